package main

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/clientv3"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
)

// grantLeases grants one lease per client (TTL long enough to outlive the
// run), on the client's own connection.
func grantLeases(o options, conns []*clientv3.Client) ([]clientv3.LeaseID, error) {
	ids := make([]clientv3.LeaseID, o.clients)
	for c := range ids {
		ctx, cancel := opCtx(o)
		res, err := conns[c%len(conns)].Grant(ctx, 600)
		cancel()
		if err != nil {
			return nil, err
		}
		ids[c] = res.ID
	}
	return ids, nil
}

// runKeepAliveOnce: every call is clientv3's KeepAliveOnce, which opens a
// LeaseKeepAlive stream, sends one request, reads one answer and closes the
// stream: the cost of stream set-up and tear-down dominates.
func runKeepAliveOnce(o options) (Result, error) {
	var ids []clientv3.LeaseID
	prepare := func(conns []*clientv3.Client) (err error) {
		ids, err = grantLeases(o, conns)
		return err
	}
	r, err := kvRun(o, "KeepAliveOnce (stream per call)", prepare, func(cli *clientv3.Client, c int, _ int64) error {
		ctx, cancel := opCtx(o)
		defer cancel()
		res, err := cli.KeepAliveOnce(ctx, ids[c])
		if err == nil && res.TTL <= 0 {
			err = fmt.Errorf("keepalive-expired")
		}
		return err
	})
	r.Params = fmt.Sprintf("%d clients / %d conns / %d keep-alives", o.clients, o.conns, o.total)
	return r, err
}

// runKeepAliveStream: each client keeps one long-lived LeaseKeepAlive stream
// and ping-pongs its lease on it, one request in flight: the server's
// per-keep-alive cost on an open stream. clientv3's own KeepAlive(ctx, id)
// multiplexes the leases of a client onto exactly such a stream, but it
// paces itself (one request per lease every TTL/3, checked every 500 ms), so
// it cannot load a server; the stream comes from the generated etcdserverpb
// client on the clientv3 connection instead.
func runKeepAliveStream(o options) (Result, error) {
	var ids []clientv3.LeaseID
	streams := make([]pb.Lease_LeaseKeepAliveClient, o.clients)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prepare := func(conns []*clientv3.Client) (err error) {
		if ids, err = grantLeases(o, conns); err != nil {
			return err
		}
		for c := range streams {
			lc := pb.NewLeaseClient(conns[c%len(conns)].ActiveConnection())
			if streams[c], err = lc.LeaseKeepAlive(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	r, err := kvRun(o, "LeaseKeepAlive on an open stream", prepare, func(_ *clientv3.Client, c int, _ int64) error {
		s := streams[c]
		if err := s.Send(&pb.LeaseKeepAliveRequest{ID: int64(ids[c])}); err != nil {
			return err
		}
		res, err := s.Recv()
		if err == nil && (res.ID != int64(ids[c]) || res.TTL <= 0) {
			err = fmt.Errorf("keepalive-wrong-answer")
		}
		return err
	})
	r.Params = fmt.Sprintf("%d streams / %d conns / %d keep-alives", o.clients, o.conns, o.total)
	return r, err
}
