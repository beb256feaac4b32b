// Command junction is the Junction messaging router: WAMP and MQTT on one
// port, bridged, federated through Redis.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/junctionmq/junction/bridge/federation"
	"github.com/junctionmq/junction/cmd/junction/bench"
	"github.com/junctionmq/junction/router"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr, os.Environ()).Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCmd(stdout, stderr io.Writer, environ []string) *cobra.Command {
	root := &cobra.Command{
		Use:           "junction",
		Short:         "Junction: a WAMP and MQTT router",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetVersionTemplate("junction {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServeCmd(stderr, environ), newConfigCmd(stdout, stderr, environ), newVersionCmd(stdout),
		newPasswdCmd(stdout, os.Stdin), newTokenCmd(stdout), bench.NewCommand(stdout, stderr))
	return root
}

func newServeCmd(stderr io.Writer, environ []string) *cobra.Command {
	var configFile, httpAddr, mqttAddr, logLevel, redisURL, nodeID string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the router (with no flags: the embedded default configuration)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// load reads the file, environment and flags: at start and on SIGHUP.
			load := func() (router.Config, error) {
				return router.LoadConfig(configFile, environ, func(cfg *router.Config) {
					if cmd.Flags().Changed("http") {
						cfg.HTTP.Listen = httpAddr
					}
					if cmd.Flags().Changed("mqtt") {
						cfg.MQTT.Listen = mqttAddr
					}
					if cmd.Flags().Changed("log-level") {
						cfg.Log.Level = logLevel
					}
					if cmd.Flags().Changed("redis") {
						cfg.Fed.Redis = redisURL
					}
					if cmd.Flags().Changed("node-id") {
						cfg.Fed.NodeID = nodeID
					}
				})
			}
			cfg, err := load()
			if err != nil {
				return reportConfigError(cmd, stderr, err)
			}
			log, err := newLogger(stderr, cfg.Log)
			if err != nil {
				return err
			}
			// go-redis has one logger per process: into slog, rate-limited.
			redis.SetLogger(federation.NewRedisLogger(log))
			if configFile == "" {
				log.Info("using the embedded default configuration (see `junction config default`)", "version", version)
			} else {
				log.Info("using configuration file", "file", configFile, "version", version)
			}
			r, err := router.New(cfg, log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						next, err := load()
						if err == nil {
							err = r.Reload(next)
						}
						if err != nil {
							log.Error("SIGHUP: configuration not reloaded", "error", err)
						}
					}
				}
			}()
			// A listener that cannot be bound is a failure (exit 1); a drain
			// that ran out of time is only reported.
			if err := r.Start(); err != nil {
				return err
			}
			<-ctx.Done()
			drainCtx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.DrainTimeout.D())
			defer cancel()
			if err := r.Shutdown(drainCtx); err != nil {
				log.Warn("drain did not finish cleanly", "error", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&configFile, "config", "c", "", "YAML configuration file (default: the embedded default)")
	f.StringVar(&httpAddr, "http", "", "address of the HTTP/WebSocket universal port (http.listen)")
	f.StringVar(&mqttAddr, "mqtt", "", `address of MQTT over TCP (mqtt.listen); "" turns it off`)
	f.StringVar(&logLevel, "log-level", "", "debug, info, warn or error (log.level)")
	f.StringVar(&redisURL, "redis", "", "federate with other routers through this Redis, redis://host:port (federation.redis)")
	f.StringVar(&nodeID, "node-id", "", "this router's name among the federated routers (federation.node_id)")
	return cmd
}

func newConfigCmd(stdout, stderr io.Writer, environ []string) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Print or check configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "default",
		Short: "Print the default configuration, documented, as a starting point",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := stdout.Write(router.DefaultYAML)
			return err
		},
	}, &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file (with JUNCTION_* overrides applied) as serve does",
		Long: `Validate a configuration file, with the JUNCTION_* variables applied, as
serve does before it starts. Every problem is printed, one per line, as
FILE:LINE: path.to.key: message (a variable's problems start with its name),
and the exit status is 1 if there is any.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := router.LoadConfig(args[0], environ); err != nil {
				return reportConfigError(cmd, stderr, err)
			}
			_, err := fmt.Fprintf(stdout, "%s: ok\n", args[0])
			return err
		},
	})
	return cmd
}

// reportConfigError prints a configuration's problems to w, one per line,
// instead of cobra's one "Error:" line, and returns err for the exit status.
func reportConfigError(cmd *cobra.Command, w io.Writer, err error) error {
	var ce *router.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	for _, line := range ce.Lines() {
		if _, werr := fmt.Fprintln(w, line); werr != nil {
			return errors.Join(err, werr)
		}
	}
	cmd.SilenceErrors = true
	return err
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "junction %s\n", version)
			return err
		},
	}
}

func newLogger(w io.Writer, c router.LogConfig) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, errors.New("log.format: want text or json")
}
