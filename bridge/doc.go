// Package bridge will be the hub of ../shared/DESIGN.md: the canonical
// message model and the only code that decides where a message goes next
// (the other protocol, other routers). It arrives with the bridge issue; until
// then each protocol routes only its own traffic.
package bridge
