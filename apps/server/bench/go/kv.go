package main

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

// op is one request of a closed-loop workload; client is the worker's index.
type op func(cli *clientv3.Client, client int, seq int64) error

// closedLoop runs `count` operations with o.clients workers, worker i on
// connection i mod o.conns, each with one request in flight (etcd's
// tools/benchmark model: --clients goroutines over --conns connections). A
// shared counter hands out exactly `count` operations. It returns every
// successful operation's latency in ms and the wall time.
func closedLoop(o options, conns []*clientv3.Client, count int, f op, errs *errorSet) ([]float64, time.Duration) {
	var next int64 = -1
	lat := make([][]float64, o.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cli := conns[w%len(conns)]
			mine := make([]float64, 0, count/o.clients+1)
			for {
				seq := atomic.AddInt64(&next, 1)
				if seq >= int64(count) {
					break
				}
				t0 := time.Now()
				if err := f(cli, w, seq); err != nil {
					errs.addErr("", err)
					continue
				}
				mine = append(mine, msSince(t0))
			}
			lat[w] = mine
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []float64
	for _, l := range lat {
		all = append(all, l...)
	}
	return all, elapsed
}

// kvRun is the common shape of the KV workloads: warm up (untimed), then a
// timed closed loop, summarized as one measure.
func kvRun(o options, what string, prepare func(conns []*clientv3.Client) error, f op) (Result, error) {
	conns, err := dialN(o, o.conns)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(conns)
	if prepare != nil {
		if err := prepare(conns); err != nil {
			return Result{}, err
		}
	}
	if o.warmup > 0 {
		werrs := newErrorSet()
		closedLoop(o, conns, o.warmup, f, werrs)
		if werrs.count > 0 {
			return Result{}, fmt.Errorf("%d errors in warm-up, e.g. %v", werrs.count, werrs.kinds)
		}
	}
	errs := newErrorSet()
	cpu0 := sampleCPU()
	lat, elapsed := closedLoop(o, conns, o.total, f, errs)
	cpu := cpuSince(cpu0)
	return Result{
		Params:      fmt.Sprintf("%d clients / %d conns / %d ops / %d B", o.clients, o.conns, o.total, o.valueSize),
		Ops:         len(lat),
		Errors:      errs.count,
		ErrorKinds:  errs.kinds,
		ElapsedMs:   durMs(elapsed),
		ClientCPUMs: cpu.client,
		ServerCPUMs: cpu.server,
		Measures:    []Measure{newMeasure(what, "ops", float64(len(lat))/elapsed.Seconds(), lat)},
	}, nil
}

func value(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return string(b)
}

// keyOf is key i of the key space, fixed width so keys sort numerically.
func keyOf(prefix string, i int) string { return fmt.Sprintf("%s%08d", prefix, i) }

func runPut(o options) (Result, error) {
	v := value(o.valueSize)
	return kvRun(o, "Put round trip", nil, func(cli *clientv3.Client, _ int, _ int64) error {
		ctx, cancel := opCtx(o)
		defer cancel()
		_, err := cli.Put(ctx, keyOf("bench/put/", rand.Intn(o.keys)), v)
		return err
	})
}

// runRange reads one key, written before the timed phase; a miss is a wrong
// answer and counts as an error.
func runRange(o options) (Result, error) {
	const key = "bench/range/key"
	prepare := func(conns []*clientv3.Client) error {
		ctx, cancel := opCtx(o)
		defer cancel()
		_, err := conns[0].Put(ctx, key, value(o.valueSize))
		return err
	}
	return kvRun(o, "Range round trip (1 key)", prepare, func(cli *clientv3.Client, _ int, _ int64) error {
		ctx, cancel := opCtx(o)
		defer cancel()
		res, err := cli.Get(ctx, key)
		if err == nil && len(res.Kvs) != 1 {
			err = fmt.Errorf("range-miss")
		}
		return err
	})
}

// runTxnPut is a compare-and-put: each client owns one key and writes it only
// if its mod revision is still the one the client last wrote, so every
// transaction takes the success branch (a failed compare counts as an error).
func runTxnPut(o options) (Result, error) {
	v := value(o.valueSize)
	rev := make([]int64, o.clients)
	key := func(c int) string { return keyOf("bench/txn/", c) }
	prepare := func(conns []*clientv3.Client) error {
		for c := 0; c < o.clients; c++ {
			ctx, cancel := opCtx(o)
			res, err := conns[c%len(conns)].Put(ctx, key(c), v)
			cancel()
			if err != nil {
				return err
			}
			rev[c] = res.Header.Revision
		}
		return nil
	}
	return kvRun(o, "Txn(compare mod_rev, put) round trip", prepare, func(cli *clientv3.Client, c int, _ int64) error {
		ctx, cancel := opCtx(o)
		defer cancel()
		res, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key(c)), "=", rev[c])).
			Then(clientv3.OpPut(key(c), v)).
			Commit()
		if err != nil {
			return err
		}
		if !res.Succeeded {
			return fmt.Errorf("txn-compare-failed")
		}
		rev[c] = res.Header.Revision
		return nil
	})
}
