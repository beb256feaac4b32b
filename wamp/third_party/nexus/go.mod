module github.com/gammazero/nexus/v3

go 1.25

require (
	github.com/gammazero/deque v1.2.1
	github.com/gorilla/websocket v1.5.3
	github.com/stretchr/testify v1.11.1
	github.com/ugorji/go/codec v1.3.1
	go.uber.org/goleak v1.3.0
	golang.org/x/crypto v0.48.0
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
