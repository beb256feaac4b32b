// Package auth will hold identities, authentication methods, roles and
// permissions shared by WAMP and MQTT. It arrives with the authentication
// issue; until then every realm is anonymous and everything is allowed.
package auth
