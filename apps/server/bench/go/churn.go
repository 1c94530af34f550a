package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

// runChurn is a correctness check rather than a benchmark: clients connect
// and close around one long-lived "survivor" client, and every call and
// event of the survivor and of each round's first client must succeed and
// arrive on time. It is the grpc-go half of the e2e suite's client churn test
// (packages/e2e/src/client-churn.test.ts): a server that lets one client's
// teardown (its GOAWAY-free close, its streams cancelled at once, its TLS
// session ending) disturb another connection fails it.
//
// The survivor holds a lock, keeps its session's lease alive, watches a
// prefix and observes one election for the whole run. Each of -rounds rounds
// then replays the etcd3 npm package's failing scenario with fresh clients:
// three clients (a, b, c), each with a session, observe the election; a
// campaigns and is elected; b campaigns behind it and resigns (revokes its
// lease); b and c close; a resigns, must
// succeed, and closes. The survivor must see a's leadership in its observer,
// receive its own put through its watch, still hold its lock and still have
// its session. An event later than -late fails the round; so does any error.
// The run stops after 5 failed rounds and returns an error (gobench exits 1).
func runChurn(o options) (Result, error) {
	survivor, err := dial(o)
	if err != nil {
		return Result{}, err
	}
	defer survivor.Close()
	s, err := newSession(o, survivor)
	if err != nil {
		return Result{}, fmt.Errorf("survivor session: %w", err)
	}
	defer s.Close()
	prefix := fmt.Sprintf("churn/%d/", time.Now().UnixNano())
	ctx, cancel := opCtx(o)
	lock := concurrency.NewMutex(s, prefix+"lock")
	err = lock.Lock(ctx)
	cancel()
	if err != nil {
		return Result{}, fmt.Errorf("survivor lock: %w", err)
	}
	streams, stop := context.WithCancel(context.Background())
	defer stop()
	watch := survivor.Watch(streams, prefix+"w/", clientv3.WithPrefix())
	observed := concurrency.NewElection(s, prefix+"election").Observe(streams)

	errs := newErrorSet()
	failed := 0
	cpu0 := sampleCPU()
	start := time.Now()
	var elected []float64
	rounds := 0
	for r := 0; r < o.rounds && failed < 5; r++ {
		rounds++
		took, err := churnRound(o, r, prefix+"election", observed)
		if err == nil {
			elected = append(elected, took)
			err = checkSurvivor(o, r, survivor, s, lock, prefix, watch)
		}
		if err != nil {
			failed++
			errs.addErr(fmt.Sprintf("round %d: ", r), err)
		}
	}
	elapsed := time.Since(start)
	res := Result{
		Params:      fmt.Sprintf("%d rounds, 3 clients each, a survivor with lock/lease/watch/observe", o.rounds),
		Ops:         rounds,
		Errors:      errs.count,
		ErrorKinds:  errs.kinds,
		ElapsedMs:   durMs(elapsed),
		ClientCPUMs: cpuSince(cpu0).client,
		Measures:    []Measure{newMeasure("campaign of a fresh client -> elected", "round", float64(rounds)/elapsed.Seconds(), elected)},
	}
	if errs.count > 0 {
		kinds := make([]string, 0, len(errs.kinds))
		for k := range errs.kinds {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return res, fmt.Errorf("%d of %d rounds failed: %s", errs.count, rounds, strings.Join(kinds, "; "))
	}
	return res, nil
}

// churnRound runs the three fresh clients of round r and returns how long
// a's Campaign took (ms). The survivor's observer must report a while it
// leads: Observe reports the leader of the moment, so a leadership that
// ended before it looked may rightly never be reported.
func churnRound(o options, r int, election string, observed <-chan clientv3.GetResponse) (float64, error) {
	clients, err := dialN(o, 3)
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	a, b, c := clients[0], clients[1], clients[2]
	defer a.Close()
	sessions := make([]*concurrency.Session, 3)
	for i, cli := range clients {
		// No Close: a client's close ends its session's keep-alives, and its
		// lease then expires on the server, as when a process exits.
		if sessions[i], err = newSession(o, cli); err != nil {
			closeAll(clients)
			return 0, fmt.Errorf("session %d: %w", i, err)
		}
		// Each client observes the election until it closes.
		concurrency.NewElection(sessions[i], election).Observe(cli.Ctx())
	}
	ea := concurrency.NewElection(sessions[0], election)
	eb := concurrency.NewElection(sessions[1], election)
	ctx, cancel := context.WithTimeout(context.Background(), o.late)
	t0 := time.Now()
	err = ea.Campaign(ctx, fmt.Sprintf("a-%d", r))
	took := msSince(t0)
	cancel()
	if err != nil {
		closeAll(clients[1:])
		return 0, fmt.Errorf("a's campaign (elected within %v): %w", o.late, err)
	}
	if err := expectLeader(o, observed, r); err != nil {
		closeAll(clients[1:])
		return 0, err
	}
	// b campaigns behind a, then resigns the way the etcd3 npm package does:
	// by revoking its lease, which deletes its key. (Cancelling the Campaign
	// instead would leave the key behind if the cancel beat its Txn's answer.)
	bctx, bcancel := context.WithCancel(context.Background())
	defer bcancel()
	bdone := make(chan error, 1)
	go func() { bdone <- eb.Campaign(bctx, fmt.Sprintf("b-%d", r)) }()
	queued := waitFor(o.late, func() bool {
		ctx, cancel := opCtx(o)
		defer cancel()
		resp, err := a.Get(ctx, election+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 2
	})
	ctx, cancel = opCtx(o)
	_, resigned := b.Revoke(ctx, sessions[1].Lease())
	cancel()
	sessions[1].Orphan()
	bcancel()
	// The cancelled Campaign deletes its key (gone with the lease already)
	// with the client's context: closing the client bounds that.
	b.Close()
	c.Close()
	<-bdone
	if !queued {
		return 0, fmt.Errorf("b's campaign key did not appear within %v", o.late)
	}
	if resigned != nil {
		return 0, fmt.Errorf("b's resign (lease revoke): %w", resigned)
	}
	ctx, cancel = opCtx(o)
	defer cancel()
	if err := ea.Resign(ctx); err != nil {
		return 0, fmt.Errorf("a's resign after b and c closed: %w", err)
	}
	return took, nil
}

// checkSurvivor asserts the survivor's state after round r: its own put
// arrives through its watch, its lock key is still there on its lease and
// its session was not lost.
func checkSurvivor(o options, r int, cli *clientv3.Client, s *concurrency.Session, lock *concurrency.Mutex, prefix string, watch clientv3.WatchChan) error {
	timer := time.NewTimer(o.late)
	defer timer.Stop()
	key := fmt.Sprintf("%sw/%d", prefix, r)
	ctx, cancel := opCtx(o)
	defer cancel()
	if _, err := cli.Put(ctx, key, "v"); err != nil {
		return fmt.Errorf("the survivor's put: %w", err)
	}
	select {
	case wr, ok := <-watch:
		if !ok || wr.Err() != nil {
			return fmt.Errorf("the survivor's watch ended: %v", wr.Err())
		}
		if len(wr.Events) != 1 || string(wr.Events[0].Kv.Key) != key {
			return fmt.Errorf("the survivor's watch delivered %v, want one put of %s", wr.Events, key)
		}
	case <-timer.C:
		return fmt.Errorf("the survivor's watch did not deliver %s within %v", key, o.late)
	}
	resp, err := cli.Get(ctx, lock.Key())
	if err != nil {
		return fmt.Errorf("the survivor's get: %w", err)
	}
	if len(resp.Kvs) != 1 || clientv3.LeaseID(resp.Kvs[0].Lease) != s.Lease() {
		return fmt.Errorf("the survivor's lock key %s is gone or on another lease", lock.Key())
	}
	select {
	case <-s.Done():
		return errors.New("the survivor's session ended")
	default:
	}
	return nil
}

// expectLeader waits (-late at most) until the survivor's observer reports
// a-r; a leader of a later round, or any b, fails.
func expectLeader(o options, observed <-chan clientv3.GetResponse, r int) error {
	want := fmt.Sprintf("a-%d", r)
	timer := time.NewTimer(o.late)
	defer timer.Stop()
	for got := ""; got != want; {
		select {
		case resp, ok := <-observed:
			if !ok {
				return errors.New("the survivor's observer closed")
			}
			if len(resp.Kvs) == 0 {
				continue
			}
			got = string(resp.Kvs[0].Value)
			var n int
			if _, err := fmt.Sscanf(got, "a-%d", &n); err != nil || n > r {
				return fmt.Errorf("the survivor observed %q while waiting for %q", got, want)
			}
		case <-timer.C:
			return fmt.Errorf("the survivor did not observe %q within %v", want, o.late)
		}
	}
	return nil
}

// newSession is a session (TTL 5 s) on a lease granted within -timeout:
// NewSession's own Grant would wait for the connection without a deadline.
func newSession(o options, cli *clientv3.Client) (*concurrency.Session, error) {
	ctx, cancel := opCtx(o)
	defer cancel()
	lease, err := cli.Grant(ctx, 5)
	if err != nil {
		return nil, err
	}
	// WithTTL bounds Close's revoke to 5 s as well.
	return concurrency.NewSession(cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(5))
}

// waitFor polls cond every 5 ms until it holds (true) or d passed (false).
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
