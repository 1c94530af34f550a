package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"google.golang.org/grpc/metadata"
)

// runWatch is fan-out: o.watchers watchers on one key, spread over o.conns
// connections (clientv3 puts all watches of a client that share a context's
// metadata on one gRPC Watch stream, so that is one stream per connection),
// and o.events puts o.putInterval apart from another connection. Each put's
// value is its sequence number and the wall-clock nanosecond it was sent, so
// a delivery's latency is receipt - send (same machine, same clock); a
// missing, duplicated or out-of-order delivery counts as an error. With
// several endpoints the watch connections spread round-robin over all of them
// while the puts go to endpoint A, so most deliveries cross replicas; a note
// then splits the latency into watchers on A and watchers elsewhere.
func runWatch(o options) (Result, error) {
	conns, err := dialN(o, o.conns)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(conns)
	putter, err := dial(o)
	if err != nil {
		return Result{}, err
	}
	defer putter.Close()

	key := fmt.Sprintf("bench/watch/%d", time.Now().UnixNano())
	const warm = 10
	total := warm + o.events
	errs := newErrorSet()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	lat := make([][]float64, o.watchers)
	var delivered, lastDelivery int64
	var created, finished sync.WaitGroup
	for w := 0; w < o.watchers; w++ {
		created.Add(1)
		finished.Add(1)
		wch := conns[w%len(conns)].Watch(ctx, key, clientv3.WithCreatedNotify())
		go func(w int, wch clientv3.WatchChan) {
			defer finished.Done()
			isCreated := false
			next := 0
			mine := make([]float64, 0, o.events)
			for res := range wch {
				now := time.Now()
				if res.Created {
					isCreated = true
					created.Done()
					continue
				}
				if err := res.Err(); err != nil {
					errs.addErr("watch: ", err)
					continue
				}
				for _, ev := range res.Events {
					parts := strings.SplitN(string(ev.Kv.Value), " ", 2)
					seq, _ := strconv.Atoi(parts[0])
					sent, _ := strconv.ParseInt(parts[len(parts)-1], 10, 64)
					if seq != next {
						errs.add(fmt.Sprintf("watch: event %d where %d was due", seq, next))
					}
					next = seq + 1
					if seq >= warm {
						mine = append(mine, durMs(now.Sub(time.Unix(0, sent))))
						atomic.AddInt64(&delivered, 1)
						atomic.StoreInt64(&lastDelivery, now.UnixNano())
					}
				}
				if next >= total {
					break
				}
			}
			if !isCreated {
				created.Done()
			}
			lat[w] = mine
		}(w, wch)
	}
	allCreated := make(chan struct{})
	go func() { created.Wait(); close(allCreated) }()
	select {
	case <-allCreated:
	case <-time.After(o.timeout):
		return Result{}, fmt.Errorf("not all %d watchers created within %v", o.watchers, o.timeout)
	}

	put := func(seq int) {
		pctx, pcancel := opCtx(o)
		defer pcancel()
		v := fmt.Sprintf("%d %d", seq, time.Now().UnixNano())
		if _, err := putter.Put(pctx, key, v); err != nil {
			errs.addErr("put: ", err)
		}
	}
	for j := 0; j < warm; j++ {
		put(j)
	}
	cpu0 := sampleCPU()
	start := time.Now()
	for j := warm; j < total; j++ {
		put(j)
		if o.putInterval > 0 {
			time.Sleep(o.putInterval)
		}
	}
	putsDone := time.Since(start)
	done := make(chan struct{})
	go func() { finished.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.timeout):
		cancel()
		<-done
	}
	cpu := cpuSince(cpu0)
	var all, onA, elsewhere []float64
	for w, l := range lat {
		all = append(all, l...)
		if (w%len(conns))%len(o.endpoints) == 0 {
			onA = append(onA, l...)
		} else {
			elsewhere = append(elsewhere, l...)
		}
	}
	if missing := o.watchers*o.events - len(all); missing > 0 {
		for i := 0; i < missing; i++ {
			errs.add("watch: delivery missing")
		}
	}
	elapsed := time.Unix(0, atomic.LoadInt64(&lastDelivery)).Sub(start)
	if len(all) == 0 {
		elapsed = time.Since(start)
	}
	notes := []string{fmt.Sprintf("puts took %.0f ms (%.0f puts/s), last delivery %.0f ms after the first put", durMs(putsDone), float64(o.events)/putsDone.Seconds(), durMs(elapsed))}
	if len(o.endpoints) > 1 {
		a, e := newMeasure("", "", 0, onA), newMeasure("", "", 0, elsewhere)
		notes = append(notes, fmt.Sprintf("%d endpoints, puts to A: watchers on A p50 %.2f / p99 %.2f ms (%d deliveries), on the others p50 %.2f / p99 %.2f ms (%d deliveries)",
			len(o.endpoints), a.P50, a.P99, a.Count, e.P50, e.P99, e.Count))
	}
	return Result{
		Params: fmt.Sprintf("%d watchers / %d conns / %d puts %v apart", o.watchers, o.conns, o.events, o.putInterval),
		Ops:    len(all), Errors: errs.count, ErrorKinds: errs.kinds,
		ElapsedMs: durMs(elapsed), ClientCPUMs: cpu.client, ServerCPUMs: cpu.server,
		Measures: []Measure{newMeasure("delivery latency (put sent -> watcher)", "events", float64(len(all))/elapsed.Seconds(), all)},
		Notes:    notes,
	}, nil
}

// watchStreamSeq numbers the streams runWatchCreate opens, warm-up included,
// so no two calls share a stream key.
var watchStreamSeq int64

// runWatchCreate measures opening a watch: Watch, wait for the "created"
// answer, cancel. Each call carries fresh gRPC metadata, which clientv3 keys
// its Watch streams by, so every call opens its own gRPC stream (and the
// cancel closes it again): the cost of a new stream plus a create request.
func runWatchCreate(o options) (Result, error) {
	key := fmt.Sprintf("bench/watch-create/%d", time.Now().UnixNano())
	r, err := kvRun(o, "Watch stream open -> created", nil, func(cli *clientv3.Client, _ int, _ int64) error {
		id := strconv.FormatInt(atomic.AddInt64(&watchStreamSeq, 1), 10)
		ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), "bench-watch", id))
		defer cancel()
		wch := cli.Watch(ctx, key, clientv3.WithCreatedNotify())
		timer := time.NewTimer(o.timeout)
		defer timer.Stop()
		select {
		case res, ok := <-wch:
			if !ok {
				return fmt.Errorf("watch closed before created")
			}
			if !res.Created {
				return fmt.Errorf("first watch answer not created: %v", res.Err())
			}
			return nil
		case <-timer.C:
			return fmt.Errorf("timeout waiting for created")
		}
	})
	r.Params = fmt.Sprintf("%d clients / %d conns / %d watches", o.clients, o.conns, o.total)
	return r, err
}
