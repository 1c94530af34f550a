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
)

// maxPutsInFlight bounds the paced writer of runWatchCross: at 1000 puts/s a
// server that answers within a second never reaches it; one that does not has
// fallen behind, and the writer then waits (the note says how often) instead
// of piling up requests without end.
const maxPutsInFlight = 1000

// runWatchCross measures how fast a write acknowledged by one replica reaches
// a watcher on another: a paced, open-loop writer sends o.events puts (after
// min(o.warmup, o.events) untimed ones) at o.rate puts/s to one key on
// endpoint A (the first of -endpoint), each from its own goroutine at its due
// time whether or not earlier ones were answered; o.watchers watchers on that
// key, spread over min(o.conns, o.watchers) connections to the other
// endpoints (to A itself when there is only one: the same-server baseline),
// receive them. A put's value is its sequence number and the wall-clock
// nanosecond it was sent, so the latency is receipt - send (including the
// put's commit), and for the definition also receipt - the put's
// acknowledgement on A (negative when the watcher heard first). Every
// acknowledged put must reach every watcher exactly once and in revision
// order; missing, duplicated and out-of-order deliveries count as errors, as
// do failed puts.
func runWatchCross(o options) (Result, error) {
	putter, err := dial(o)
	if err != nil {
		return Result{}, err
	}
	defer putter.Close()
	// The endpoints watchers go to: all but A, or A alone.
	var targets []int
	for i := 1; i < len(o.endpoints); i++ {
		targets = append(targets, i)
	}
	if len(targets) == 0 {
		targets = []int{0}
	}
	nconns := o.conns
	if nconns > o.watchers {
		nconns = o.watchers
	}
	conns := make([]*clientv3.Client, 0, nconns)
	defer func() { closeAll(conns) }()
	for c := 0; c < nconns; c++ {
		cli, err := dialAt(o, targets[c%len(targets)])
		if err != nil {
			return Result{}, err
		}
		conns = append(conns, cli)
	}

	key := fmt.Sprintf("bench/watch-cross/%d", time.Now().UnixNano())
	warm := o.warmup
	if warm > o.events {
		warm = o.events
	}
	total := warm + o.events
	errs := newErrorSet()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// recv[w][seq]: when watcher w got put seq (UnixNano), 0 if never.
	recv := make([][]int64, o.watchers)
	got := make([]int64, o.watchers) // distinct puts each watcher got (atomic)
	var created, finished sync.WaitGroup
	for w := 0; w < o.watchers; w++ {
		recv[w] = make([]int64, total)
		created.Add(1)
		finished.Add(1)
		wch := conns[w%len(conns)].Watch(ctx, key, clientv3.WithCreatedNotify())
		go func(w int, wch clientv3.WatchChan) {
			defer finished.Done()
			isCreated := false
			var lastRev int64
			for res := range wch {
				now := time.Now().UnixNano()
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
					if ev.Kv.ModRevision <= lastRev {
						errs.add(fmt.Sprintf("watch: revision %d after %d (out of order)", ev.Kv.ModRevision, lastRev))
					}
					lastRev = ev.Kv.ModRevision
					seq, err := strconv.Atoi(strings.SplitN(string(ev.Kv.Value), " ", 2)[0])
					switch {
					case err != nil || seq < 0 || seq >= total:
						errs.add("watch: unexpected value")
					case recv[w][seq] != 0:
						errs.add("watch: duplicate delivery")
					default:
						recv[w][seq] = now
						atomic.AddInt64(&got[w], 1)
					}
				}
			}
			if !isCreated {
				created.Done()
			}
		}(w, wch)
	}
	allCreated := make(chan struct{})
	go func() { created.Wait(); close(allCreated) }()
	select {
	case <-allCreated:
	case <-time.After(o.timeout):
		return Result{}, fmt.Errorf("not all %d watchers created within %v", o.watchers, o.timeout)
	}

	// The writer: put j is due at start + j/rate.
	interval := time.Duration(float64(time.Second) / o.rate)
	sent := make([]int64, total)  // UnixNano of the send
	acked := make([]int64, total) // UnixNano of the answer, 0 if the put failed
	var ok, inFlight, maxInFlight int64
	stalls := 0
	sem := make(chan struct{}, maxPutsInFlight)
	var puts sync.WaitGroup
	var cpu0 cpuSample
	var timedStart time.Time
	start := time.Now()
	for j := 0; j < total; j++ {
		if d := time.Until(start.Add(time.Duration(j) * interval)); d > 0 {
			time.Sleep(d)
		}
		if j == warm {
			cpu0, timedStart = sampleCPU(), time.Now()
		}
		select {
		case sem <- struct{}{}:
		default:
			stalls++
			sem <- struct{}{}
		}
		puts.Add(1)
		go func(j int) {
			defer puts.Done()
			defer func() { <-sem }()
			n := atomic.AddInt64(&inFlight, 1)
			for m := atomic.LoadInt64(&maxInFlight); n > m && !atomic.CompareAndSwapInt64(&maxInFlight, m, n); {
				m = atomic.LoadInt64(&maxInFlight)
			}
			defer atomic.AddInt64(&inFlight, -1)
			pctx, pcancel := opCtx(o)
			defer pcancel()
			t := time.Now().UnixNano()
			sent[j] = t
			if _, err := putter.Put(pctx, key, fmt.Sprintf("%d %d", j, t)); err != nil {
				errs.addErr("put: ", err)
				return
			}
			acked[j] = time.Now().UnixNano()
			atomic.AddInt64(&ok, 1)
		}(j)
	}
	lastSend := time.Since(timedStart)
	puts.Wait()
	writerDone := time.Since(timedStart)

	// Every watcher must get every acknowledged put (deadline: -timeout).
	deadline := time.Now().Add(o.timeout)
	for {
		all := true
		for w := range got {
			if atomic.LoadInt64(&got[w]) < atomic.LoadInt64(&ok) {
				all = false
				break
			}
		}
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	finished.Wait()
	cpu := cpuSince(cpu0)

	var fromSent, fromAck []float64
	var lastDelivery int64
	timedOK := 0
	for j := warm; j < total; j++ {
		if acked[j] != 0 {
			timedOK++
		}
	}
	for w := range recv {
		for j := warm; j < total; j++ {
			r := recv[w][j]
			switch {
			case acked[j] == 0:
				// A failed put (already an error) may or may not have committed.
			case r == 0:
				errs.add("watch: delivery missing")
			default:
				fromSent = append(fromSent, float64(r-sent[j])/1e6)
				fromAck = append(fromAck, float64(r-acked[j])/1e6)
				if r > lastDelivery {
					lastDelivery = r
				}
			}
		}
	}
	putRate := float64(timedOK) / writerDone.Seconds()
	deliveryRate := float64(len(fromSent)) / time.Unix(0, lastDelivery).Sub(timedStart).Seconds()
	where := fmt.Sprintf("%d other endpoint(s)", len(targets))
	if len(o.endpoints) == 1 {
		where = "the same endpoint (one endpoint given: the same-server baseline)"
	}
	return Result{
		Params: fmt.Sprintf("%d puts at %.0f/s to A / %d watchers on %d conns to %s", o.events, o.rate, o.watchers, nconns, where),
		Ops:    timedOK, Errors: errs.count, ErrorKinds: errs.kinds,
		ElapsedMs: durMs(writerDone), ClientCPUMs: cpu.client, ServerCPUMs: cpu.server,
		Measures: []Measure{
			newMeasure("put sent (A) -> watcher (B)", "puts", putRate, fromSent),
			newMeasure("put acknowledged (A) -> watcher (B)", "events", deliveryRate, fromAck),
		},
		Notes: []string{fmt.Sprintf("sent %d timed puts in %.0f ms (target %.0f/s, got %.0f/s acknowledged); up to %d in flight; writer waited for the %d-in-flight cap %d times",
			o.events, durMs(lastSend), o.rate, putRate, atomic.LoadInt64(&maxInFlight), maxPutsInFlight, stalls)},
	}, nil
}
