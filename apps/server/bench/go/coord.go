package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3/concurrency"
)

// handOver runs o.contenders contenders, each with its own connection and
// session (lease), that loop acquire -> release on one shared name until
// o.acquisitions timed acquisitions happened, after o.warmup untimed ones (a
// fresh Node server runs its hand-over path unoptimized for the first few
// hundred; the Node client's lock warms up as many, both servers alike). The
// holder stamps each acquisition and the moments it sends the release and gets its answer; the
// hand-over latency of acquisition k+1 is its acquire answer minus
// acquisition k's release send (what a waiting process sees) and minus the
// release answer (which the next holder's answer can beat, so it can be
// negative: both arrive after the same delete).
func handOver(o options, what string, newRole func(s *concurrency.Session, name string) role) (Result, error) {
	conns, err := dialN(o, o.contenders)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(conns)
	name := fmt.Sprintf("bench/%s/%d", what, time.Now().UnixNano())
	roles := make([]role, o.contenders)
	for i, cli := range conns {
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(30))
		if err != nil {
			return Result{}, err
		}
		defer s.Close()
		roles[i] = newRole(s, name)
	}

	warm := o.warmup
	n := warm + o.acquisitions
	acquired := make([]time.Time, n)
	releaseSent := make([]time.Time, n)
	releaseDone := make([]time.Time, n)
	holder := make([]int, n)
	// Only the holder touches these, but the lock that makes it so is on the
	// server, invisible to Go's memory model: guard them for real.
	var book sync.Mutex
	count := 0
	errs := newErrorSet()
	var cpu0 cpuSample
	var wg sync.WaitGroup
	for i, r := range roles {
		wg.Add(1)
		go func(i int, r role) {
			defer wg.Done()
			for {
				ctx, cancel := opCtx(o)
				err := r.acquire(ctx)
				cancel()
				now := time.Now()
				if err != nil {
					errs.addErr("acquire: ", err)
					return
				}
				book.Lock()
				k := count
				last := k >= n
				if !last {
					count++
					acquired[k], holder[k] = now, i
					if k == warm {
						cpu0 = sampleCPU()
					}
				}
				book.Unlock()
				sent := time.Now()
				ctx, cancel = opCtx(o)
				err = r.release(ctx)
				cancel()
				done := time.Now()
				if !last {
					book.Lock()
					releaseSent[k], releaseDone[k] = sent, done
					book.Unlock()
				}
				if err != nil {
					errs.addErr("release: ", err)
					return
				}
				if last {
					return
				}
			}
		}(i, r)
	}
	wg.Wait()
	cpu := cpuSince(cpu0)
	if count < n {
		return Result{}, fmt.Errorf("only %d of %d acquisitions; errors %v", count, n, errs.kinds)
	}
	var fromSend, fromAnswer []float64
	negative, same := 0, 0
	for k := warm; k < n-1; k++ {
		if holder[k+1] == holder[k] {
			same++
		}
		fromSend = append(fromSend, durMs(acquired[k+1].Sub(releaseSent[k])))
		d := durMs(acquired[k+1].Sub(releaseDone[k]))
		if d < 0 {
			negative++
		}
		fromAnswer = append(fromAnswer, d)
	}
	elapsed := acquired[n-1].Sub(acquired[warm])
	rate := float64(n-1-warm) / elapsed.Seconds()
	return Result{
		Params: fmt.Sprintf("%d contenders / %d acquisitions", o.contenders, o.acquisitions),
		Ops:    o.acquisitions, Errors: errs.count, ErrorKinds: errs.kinds,
		ElapsedMs: durMs(elapsed), ClientCPUMs: cpu.client, ServerCPUMs: cpu.server,
		Measures: []Measure{
			newMeasure("hand-over (release sent -> next acquired)", "acq", rate, fromSend),
			newMeasure("hand-over (release answer -> next acquired)", "acq", rate, fromAnswer),
		},
		Notes: []string{fmt.Sprintf("%d hand-overs: %d answered the next holder before the release, %d went to the same contender", len(fromSend), negative, same)},
	}, nil
}

// role is the lock or the election seen by one contender.
type role struct {
	acquire func(ctx context.Context) error
	release func(ctx context.Context) error
}

// runLock: concurrency.Mutex, Lock -> Unlock.
func runLock(o options) (Result, error) {
	return handOver(o, "lock", func(s *concurrency.Session, name string) role {
		m := concurrency.NewMutex(s, name)
		return role{acquire: m.Lock, release: m.Unlock}
	})
}

// runElection: concurrency.Election, Campaign -> Resign; a resign hands the
// leadership to the oldest waiting candidate.
func runElection(o options) (Result, error) {
	return handOver(o, "election", func(s *concurrency.Session, name string) role {
		e := concurrency.NewElection(s, name)
		return role{
			acquire: func(ctx context.Context) error { return e.Campaign(ctx, "leader") },
			release: e.Resign,
		}
	})
}
