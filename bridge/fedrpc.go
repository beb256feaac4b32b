package bridge

// Cluster-wide RPC (see issue 13): stubs until it lands.

func (h *Hub) rpcFromRouter(origin string, body []byte)     {}
func (h *Hub) rpcRows(node string, added, removed []string) {}
func (h *Hub) rpcNodeGone(node string)                      {}
