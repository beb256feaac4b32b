package bridge

// MQTT persistent sessions across routers: stubs until they land.

func (h *Hub) sessionFromRouter(origin string, body []byte) {}
func (h *Hub) sessionNodeGone(node string)                  {}
