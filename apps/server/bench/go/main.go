// Command gobench is Conclave's load generator built on etcd's own Go client
// (go.etcd.io/etcd/clientv3 3.4, from Debian's golang-etcd-server-dev), so a
// benchmark against Conclave or etcd is limited by the server, not by the
// client: one Go process drives 100 clients on a fraction of a core, where the
// Node generator needs a whole core for ~2000 calls/s. It runs one workload
// against one endpoint and prints a human summary plus one JSON line that
// `npm run bench -- --compare` parses. -endpoint takes a comma-separated
// list (the replicas of one cluster): connection i dials endpoint i mod N, so
// the load spreads over them like clients spread over replicas. One workload,
// churn, is a check rather than a measurement: the e2e suite runs it and it
// exits non-zero on any failure (churn.go). Built in GOPATH mode (no
// modules, no network) by bench/go-client.ts.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
	"google.golang.org/grpc/grpclog"
)

type options struct {
	endpoint     string
	endpoints    []string // -endpoint split at commas; [0] is "A", where watch puts go
	workload     string
	clients      int
	conns        int
	total        int
	warmup       int
	valueSize    int
	keys         int
	timeout      time.Duration
	watchers     int
	events       int
	putInterval  time.Duration
	contenders   int
	acquisitions int
	rate         float64
	samples      bool
	rounds       int
	late         time.Duration
	caCert       string
	tls          *tls.Config // from -cacert; nil dials plaintext
}

var workloads = map[string]func(o options) (Result, error){
	"put":              runPut,
	"range":            runRange,
	"txn-put":          runTxnPut,
	"keepalive-once":   runKeepAliveOnce,
	"keepalive-stream": runKeepAliveStream,
	"watch":            runWatch,
	"watch-create":     runWatchCreate,
	"watch-cross":      runWatchCross,
	"lock":             runLock,
	"election":         runElection,
	"churn":            runChurn,
}

func main() {
	var o options
	names := make([]string, 0, len(workloads))
	for n := range workloads {
		names = append(names, n)
	}
	flag.StringVar(&o.endpoint, "endpoint", "127.0.0.1:2379", "etcd v3 endpoint(s), comma-separated (host:port or http://host:port); connection i dials endpoint i mod N")
	flag.StringVar(&o.workload, "workload", "put", "one of "+strings.Join(names, ", "))
	flag.IntVar(&o.clients, "clients", 100, "concurrent clients (goroutines, one request in flight each)")
	flag.IntVar(&o.conns, "conns", 10, "gRPC connections the clients are spread over")
	flag.IntVar(&o.total, "total", 10000, "timed operations (put, range, txn-put, keepalive-*, watch-create)")
	flag.IntVar(&o.warmup, "warmup", 500, "untimed operations first")
	flag.IntVar(&o.valueSize, "value-size", 256, "bytes per value")
	flag.IntVar(&o.keys, "keys", 1000, "key space for put/txn-put (range reads one key)")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request deadline")
	flag.IntVar(&o.watchers, "watchers", 1000, "watch, watch-cross: watchers on one key, spread over -conns")
	flag.IntVar(&o.events, "events", 200, "watch, watch-cross: timed puts, each must reach every watcher")
	flag.DurationVar(&o.putInterval, "put-interval", 5*time.Millisecond, "watch: pause between puts")
	flag.IntVar(&o.contenders, "contenders", 8, "lock/election: contenders, one connection and session each")
	flag.IntVar(&o.acquisitions, "acquisitions", 400, "lock/election: timed acquisitions in total")
	flag.Float64Var(&o.rate, "rate", 1000, "watch-cross: puts per second the paced writer sends (open loop)")
	flag.IntVar(&o.rounds, "rounds", 50, "churn: rounds of clients connecting and closing around the survivor")
	pids := flag.String("server-pids", "", "server processes (comma-separated pids) whose CPU in the timed phase the result reports as serverCpuMs")
	flag.DurationVar(&o.late, "late", 3*time.Second, "churn: an election or watch event later than this fails the round")
	flag.StringVar(&o.caCert, "cacert", "", "PEM CA bundle: dial with TLS, verifying the server against it (default plaintext)")
	flag.BoolVar(&o.samples, "samples", false, "put every latency sample in the JSON line")
	flag.Parse()
	for _, p := range strings.Split(*pids, ",") {
		if p == "" {
			continue
		}
		pid, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gobench: -server-pids: %q is not a pid\n", p)
			os.Exit(2)
		}
		serverPids = append(serverPids, pid)
	}
	run, ok := workloads[o.workload]
	if !ok {
		fmt.Fprintf(os.Stderr, "gobench: unknown -workload %q (want one of %s)\n", o.workload, strings.Join(names, ", "))
		os.Exit(2)
	}
	if o.clients < 1 || o.conns < 1 {
		fmt.Fprintln(os.Stderr, "gobench: -clients and -conns must be >= 1")
		os.Exit(2)
	}
	if !(o.rate > 0) {
		fmt.Fprintln(os.Stderr, "gobench: -rate must be > 0")
		os.Exit(2)
	}
	for _, ep := range strings.Split(o.endpoint, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			o.endpoints = append(o.endpoints, strings.TrimPrefix(strings.TrimPrefix(ep, "http://"), "https://"))
		}
	}
	if len(o.endpoints) == 0 {
		fmt.Fprintln(os.Stderr, "gobench: -endpoint is empty")
		os.Exit(2)
	}
	if o.caCert != "" {
		pem, err := ioutil.ReadFile(o.caCert)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(os.Stderr, "gobench: -cacert %s: no PEM certificate (%v)\n", o.caCert, err)
			os.Exit(2)
		}
		o.tls = &tls.Config{RootCAs: pool}
	}
	// clientv3 logs every retried stream through grpclog; a benchmark reports
	// errors itself.
	clientv3.SetLogger(grpclog.NewLoggerV2(ioutil.Discard, ioutil.Discard, os.Stderr))
	r, err := run(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gobench %s: %v\n", o.workload, err)
		os.Exit(1)
	}
	r.Workload = o.workload
	report(r, o.samples)
}

// dial opens one clientv3 client to endpoint A (the first of -endpoint).
func dial(o options) (*clientv3.Client, error) { return dialAt(o, 0) }

// dialAt opens one clientv3 client, which is one gRPC connection (HTTP/2
// session), to endpoint i mod N of -endpoint. Each client is given exactly
// one endpoint: clientv3 would otherwise balance its own requests over all of
// them, and the benchmark decides the spread itself.
func dialAt(o options, i int) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{o.endpoints[i%len(o.endpoints)]},
		DialTimeout: 10 * time.Second,
		TLS:         o.tls,
		// clientv3 3.4 would otherwise log through zap at info level.
		LogConfig: quietZap(),
	})
}

// dialN opens n clients, client i to endpoint i mod N (round-robin over the
// endpoints); in parallel would gain nothing on loopback.
func dialN(o options, n int) ([]*clientv3.Client, error) {
	out := make([]*clientv3.Client, 0, n)
	for i := 0; i < n; i++ {
		c, err := dialAt(o, i)
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func closeAll(cs []*clientv3.Client) {
	for _, c := range cs {
		c.Close()
	}
}

// opCtx is the per-request deadline.
func opCtx(o options) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), o.timeout)
}

// quietZap is clientv3's own zap logger at error level: its info lines (one
// per connection and retry) would otherwise swamp the summary.
func quietZap() *zap.Config {
	c := zap.NewProductionConfig()
	c.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	c.OutputPaths = []string{"stderr"}
	c.ErrorOutputPaths = []string{"stderr"}
	return &c
}
