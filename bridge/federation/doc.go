// Package federation links Junction routers through Redis.
package federation
