package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Measure is one latency distribution (and a rate) a workload reports. The
// bench driver (bench.ts) merges the raw samples of several rounds, so they
// travel in the JSON line when -samples is set; percentiles alone cannot be
// merged.
type Measure struct {
	Name    string    `json:"name"`
	Unit    string    `json:"unit"`
	Rate    float64   `json:"rate"`
	Count   int       `json:"count"`
	Mean    float64   `json:"mean"`
	P50     float64   `json:"p50"`
	P90     float64   `json:"p90"`
	P99     float64   `json:"p99"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples,omitempty"`
}

// Result is what one workload run prints as its JSON line.
type Result struct {
	Type        string         `json:"type"`
	Workload    string         `json:"workload"`
	Params      string         `json:"params"`
	Ops         int            `json:"ops"`
	Errors      int            `json:"errors"`
	ErrorKinds  map[string]int `json:"errorKinds"`
	ElapsedMs   float64        `json:"elapsedMs"`
	ClientCPUMs float64        `json:"clientCpuMs"`
	// ServerCPUMs is what the -server-pids processes spent in the timed
	// phase; absent without -server-pids.
	ServerCPUMs *float64  `json:"serverCpuMs,omitempty"`
	Measures    []Measure `json:"measures"`
	Notes       []string  `json:"notes"`
}

// newMeasure sorts the samples (ms) in place and summarizes them.
func newMeasure(name, unit string, rate float64, samples []float64) Measure {
	sort.Float64s(samples)
	m := Measure{Name: name, Unit: unit, Rate: rate, Count: len(samples), Samples: samples}
	m.Mean, m.P50, m.P90, m.P99, m.Max = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
	if len(samples) > 0 {
		sum := 0.0
		for _, s := range samples {
			sum += s
		}
		m.Mean = sum / float64(len(samples))
		m.P50, m.P90, m.P99 = percentile(samples, 50), percentile(samples, 90), percentile(samples, 99)
		m.Max = samples[len(samples)-1]
	}
	return m
}

// percentile is nearest-rank over an ascending slice, the same definition as
// bench/load.ts, so Go and Node runs read alike.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

func msSince(t time.Time) float64 { return float64(time.Since(t)) / float64(time.Millisecond) }

func durMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuMs is this process's user+system CPU so far: the client's own cost,
// printed so a reader can see the generator was not the bottleneck.
func cpuMs() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return durMs(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()))
}

// serverPids are the server processes whose CPU the timed phase reports
// (-server-pids): read here, at the phase's edges, so that the warm-up and
// the connection setup before it stay out of the server's CPU per operation
// as they stay out of the client's.
var serverPids []int

// procCPUMs is user+system CPU of process pid (all its threads) so far, in
// ms, from /proc/<pid>/stat (fields 14 and 15, in USER_HZ = 100 ticks/s).
func procCPUMs(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return math.NaN()
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return math.NaN()
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return math.NaN()
	}
	return (ut + st) * 1000 / 100
}

// cpuSample is the CPU spent so far by this client and by the servers.
type cpuSample struct{ client, server float64 }

func sampleCPU() cpuSample {
	c := cpuSample{client: cpuMs()}
	for _, pid := range serverPids {
		c.server += procCPUMs(pid)
	}
	return c
}

// cpuSpent is what a timed phase that began at `from` spent, client and servers.
type cpuSpent struct {
	client float64
	server *float64
}

func cpuSince(from cpuSample) cpuSpent {
	now := sampleCPU()
	spent := cpuSpent{client: now.client - from.client}
	// NaN (a server's /proc entry unreadable: it exited) is left out, as
	// JSON cannot carry it; the driver then measures around the run.
	if s := now.server - from.server; len(serverPids) > 0 && !math.IsNaN(s) {
		spent.server = &s
	}
	return spent
}

// errorSet counts failed operations by kind; safe for concurrent use.
type errorSet struct {
	mu    sync.Mutex
	count int
	kinds map[string]int
}

func newErrorSet() *errorSet { return &errorSet{kinds: map[string]int{}} }

func (e *errorSet) add(kind string) {
	if len(kind) > 100 {
		kind = kind[:100]
	}
	e.mu.Lock()
	e.count++
	e.kinds[kind]++
	e.mu.Unlock()
}

func (e *errorSet) addErr(prefix string, err error) { e.add(prefix + err.Error()) }

// jsonSafe replaces NaN (which encoding/json refuses) by -1 for the line's
// readers; an empty distribution also has count 0.
func jsonSafe(ms []Measure) {
	for i := range ms {
		for _, f := range []*float64{&ms[i].Rate, &ms[i].Mean, &ms[i].P50, &ms[i].P90, &ms[i].P99, &ms[i].Max} {
			if math.IsNaN(*f) || math.IsInf(*f, 0) {
				*f = -1
			}
		}
	}
}

// report prints a human summary per measure and then the one JSON line the
// bench driver parses (the last stdout line starting with '{').
func report(r Result, withSamples bool) {
	for _, m := range r.Measures {
		fmt.Printf("%-14s %-44s %10.0f %s/s  p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  n=%d\n",
			r.Workload, m.Name, m.Rate, m.Unit, m.P50, m.P99, m.Max, m.Count)
	}
	if r.Errors > 0 {
		var ks []string
		for k, n := range r.ErrorKinds {
			ks = append(ks, fmt.Sprintf("%dx %s", n, k))
		}
		fmt.Printf("%-14s errors: %s\n", r.Workload, strings.Join(ks, "; "))
	}
	for _, n := range r.Notes {
		fmt.Printf("%-14s %s\n", r.Workload, n)
	}
	if !withSamples {
		for i := range r.Measures {
			r.Measures[i].Samples = nil
		}
	} else {
		for i := range r.Measures {
			// Microsecond resolution keeps the line short enough.
			for j, s := range r.Measures[i].Samples {
				r.Measures[i].Samples[j] = math.Round(s*1000) / 1000
			}
		}
	}
	jsonSafe(r.Measures)
	r.Type = "result"
	if r.ErrorKinds == nil {
		r.ErrorKinds = map[string]int{}
	}
	if r.Notes == nil {
		r.Notes = []string{}
	}
	line, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gobench: encode result: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(line, '\n'))
}
