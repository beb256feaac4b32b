// Package topic is the hub's vocabulary: the forms topics and URIs take, the
// match policies of WAMP patterns, and the one matcher that auth, the hub
// and federation all use to say whether a pattern or a filter selects a
// name. It imports only the standard library, so every package of Junction
// can share it.
//
// The canonical name of a message is a WAMP URI: components separated by
// '.'. MQTT topic "a/b/c" is URI "a.b.c" (TopicToURI, URIToTopic); an MQTT
// level that is not a valid URI component (empty, containing '.', '#',
// '%' or white space) is escaped by one reversible rule, never dropped.
// Topics whose first level starts with '$' ($SYS, $rpc) are Reserved.
//
// A WAMP Pattern is a URI with a Match policy: exact, prefix (a plain string
// prefix: "a.b" selects "a.bc" too) or wildcard (as many components, an
// empty component selecting any one). Pattern.Matches is the matcher, with
// nexus' semantics; MatchComponents and ComponentMatches serve callers that
// keep patterns split or in a trie, so that they match by the same rule.
//
// An MQTT filter matches topics by MQTT's rules (FilterMatches: '+' one
// level, '#' the rest, no leading wildcard on a reserved topic). Its WAMP
// image is FilterPatterns: "a/+/c" is wildcard "a..c", "a/#" is prefix "a."
// plus exact "a", and a filter WAMP cannot express exactly is widened, so
// that what is authorized or subscribed to is never less than the filter
// selects; the hub then filters exactly.
package topic
