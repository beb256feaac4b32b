//go:build !linux

package mqtt

import (
	"errors"
	"log/slog"
)

// poller is Linux only (epoll); elsewhere connections do not park.
type poller struct{}

var errNoPoller = errors.New("idle connections park on Linux only")

func newPoller(*slog.Logger) (*poller, error) { return nil, errNoPoller }
func (p *poller) close()                      {}
func (p *poller) arm(*queuedConn) error       { return errNoPoller }
func (p *poller) forget(*queuedConn)          {}

// parkable reports whether connections can park on this system.
const parkable = false
