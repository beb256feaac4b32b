package bridge

// Shared subscriptions across routers: stubs until they land.

func (h *Hub) shareFromRouter(origin string, body []byte) {}
func (h *Hub) shareNodeGone(node string)                  {}
