// Command jobspeer runs the same no-op job workload on asynq and on
// TradeSense's job system (Redis state store, Redis Streams broker), against
// one Redis, alternating, and prints each run and the ratios. It is its own
// Go module so that asynq never enters the product's dependencies.
//
//	redis-server --port 6390 --save "" --appendonly no --daemonize yes
//	cd tests/loadtest/jobspeer && go build -o /tmp/jobspeer . &&
//	  /tmp/jobspeer -redis redis://127.0.0.1:6390/0 -jobs 50000 -workers 1,2 -rounds 2
//
// Each run: W worker processes (children of this one, -c handlers each)
// consume the default queue; P producers in this process enqueue N jobs
// whose payload is the enqueue time; the run ends when the system's own
// processed counter (asynq's processed total, TradeSense's
// total:default:processed) reaches N. Workers report the enqueue→start
// latency of every job. Between runs the database is flushed (use a private
// Redis: the tool refuses a database with foreign keys unless -force).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/jobs"
)

const (
	tsPrefix = "peer:"
	kind     = "default.noop"
)

type payload struct {
	T int64 `json:"t"` // enqueue time, Unix ns
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		worker(os.Args[2:])
		return
	}
	url := flag.String("redis", "redis://127.0.0.1:6390/0", "Redis URL (private: it is flushed between runs)")
	n := flag.Int("jobs", 50000, "jobs per run")
	producers := flag.Int("p", 16, "producer goroutines")
	conc := flag.Int("c", 32, "handlers per worker process")
	workersFlag := flag.String("workers", "1,2", "worker process counts to run, comma-separated (0: enqueue only, no worker)")
	rounds := flag.Int("rounds", 2, "alternations of asynq and TradeSense per worker count")
	batch := flag.Int("batch", 0, "TradeSense: enqueue with EnqueueMany in batches of this size (0: Enqueue)")
	systems := flag.String("systems", "asynq,tradesense", "systems to run, in this order each round")
	rate := flag.Float64("rate", 0, "offered load in jobs/s, paced over the producers (0: as fast as they can): for the enqueue→start latency at a given load")
	force := flag.Bool("force", false, "flush a database that holds other keys")
	prefill := flag.Bool("prefill", false, "enqueue every job before the workers start, then time the workers draining the backlog (end-to-end rate, worker and Redis CPU are the processing's alone; producer CPU is the enqueue's)")
	flag.Parse()
	// JOBSPEER_CPUPROFILE=dir also profiles this process (the producers):
	// dir/producer.pprof.
	if dir := os.Getenv("JOBSPEER_CPUPROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, "producer.pprof"))
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}

	opts, err := redis.ParseURL(*url)
	if err != nil {
		log.Fatal(err)
	}
	opts.PoolSize = 4 * *producers
	rdb := redis.NewClient(opts)
	ctx := context.Background()
	if n, err := rdb.DBSize(ctx).Result(); err != nil {
		log.Fatal(err)
	} else if n > 0 && !*force {
		log.Fatalf("%s holds %d keys: use a private Redis (or -force to flush it)", *url, n)
	}
	fmt.Printf("jobs %d, producers %d, handlers per worker %d, batch %d, rate %.0f/s, build %s\n", *n, *producers, *conc, *batch, *rate, build)
	type key struct {
		sys string
		w   int
	}
	results := map[key][]result{}
	for _, ws := range strings.Split(*workersFlag, ",") {
		w, err := strconv.Atoi(ws)
		if err != nil || w < 0 {
			log.Fatalf("bad -workers %q", *workersFlag)
		}
		for r := range *rounds {
			for _, sys := range strings.Split(*systems, ",") {
				if err := rdb.FlushDB(ctx).Err(); err != nil {
					log.Fatal(err)
				}
				res, err := run(ctx, rdb, *url, sys, w, *n, *producers, *conc, *batch, *rate, *prefill)
				if err != nil {
					log.Fatalf("%s: %v", sys, err)
				}
				results[key{sys, w}] = append(results[key{sys, w}], res)
				fmt.Printf("round %d  workers %d  %-10s  %s\n", r+1, w, sys, res)
			}
		}
		a, t := results[key{"asynq", w}], results[key{"tradesense", w}]
		var e2e, enq, cpu []float64
		for i := range min(len(a), len(t)) {
			e2e = append(e2e, t[i].rate/a[i].rate)
			enq = append(enq, t[i].enqRate/a[i].enqRate)
			cpu = append(cpu, a[i].cpuTotal()/t[i].cpuTotal())
			fmt.Printf("ratio TradeSense/asynq, workers %d, round %d: end-to-end %.2f×, enqueue %.2f×, CPU per job (asynq/TradeSense) %.2f×\n",
				w, i+1, e2e[i], enq[i], cpu[i])
		}
		if len(e2e) > 0 {
			fmt.Printf("median ratio, workers %d, %d rounds: end-to-end %.2f×, enqueue %.2f×, CPU per job %.2f×\n",
				w, len(e2e), median(e2e), median(enq), median(cpu))
		}
	}
	_ = rdb.FlushDB(ctx).Err()
}

type result struct {
	rate, enqRate float64
	p50, p99      time.Duration
	keysLeft      int64
	// persistent names the keys left without a TTL; maxTTL is the
	// longest TTL of the others.
	persistent []string
	maxTTL     time.Duration
	// CPU time per job (µs) of the producers (this process), of the
	// worker processes together, and of Redis (INFO cpu; only this run's
	// on a private Redis).
	cpuProd, cpuWork, cpuRedis float64
}

func (r result) String() string {
	return fmt.Sprintf("%8.0f jobs/s end to end, %8.0f enqueued/s, enqueue→start p50 %.2f ms p99 %.2f ms, keys after %d, cpu µs/job producer %.0f workers %.0f redis %.0f",
		r.rate, r.enqRate, ms(r.p50), ms(r.p99), r.keysLeft, r.cpuProd, r.cpuWork, r.cpuRedis) +
		fmt.Sprintf(" (%d without TTL %v, the rest expire within %s)", len(r.persistent), r.persistent, r.maxTTL.Round(time.Second))
}

// ttls returns the keys without a TTL and the longest TTL of the others.
func ttls(ctx context.Context, rdb *redis.Client) ([]string, time.Duration) {
	var persistent []string
	var longest time.Duration
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	var keys []string
	flush := func() {
		cmds, _ := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.PTTL(ctx, k)
			}
			return nil
		})
		for i, c := range cmds {
			d, _ := c.(*redis.DurationCmd).Result()
			switch {
			case d == -1:
				persistent = append(persistent, keys[i])
			case d > longest:
				longest = d
			}
		}
		keys = keys[:0]
	}
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			flush()
		}
	}
	flush()
	slices.Sort(persistent)
	return persistent, longest
}

// selfCPU returns this process's CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return rusageCPU(&ru)
}

func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU returns Redis's CPU time (INFO cpu, user + sys).
func redisCPU(ctx context.Context, rdb *redis.Client) time.Duration {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

func (r result) cpuTotal() float64 { return r.cpuProd + r.cpuWork + r.cpuRedis }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func perJob(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// run starts w worker processes, enqueues n jobs and waits for them.
func run(ctx context.Context, rdb *redis.Client, url, sys string, w, n, producers, conc, batch int, rate float64, prefill bool) (result, error) {
	var res result
	procs := make([]*exec.Cmd, w)
	outs := make([]*bufio.Scanner, w)
	startWorkers := func() error {
		for i := range procs {
			cmd := exec.Command(os.Args[0], "worker", sys, url, strconv.Itoa(conc), fmt.Sprintf("w%d", i))
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				return err
			}
			if err := cmd.Start(); err != nil {
				return err
			}
			procs[i], outs[i] = cmd, bufio.NewScanner(out)
			outs[i].Buffer(make([]byte, 1<<20), 256<<20) // the latencies are one line
			if !outs[i].Scan() || outs[i].Text() != "ready" {
				return fmt.Errorf("worker %d did not start", i)
			}
		}
		return nil
	}
	if !prefill {
		if err := startWorkers(); err != nil {
			return res, err
		}
	}
	enqueue, processed, closeProducer, err := producer(rdb, url, sys)
	if err != nil {
		return res, err
	}
	cpu0, rcpu0 := selfCPU(), redisCPU(ctx, rdb)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		wg.Go(func() {
			mine := make([]int, 0, n/producers+1)
			for i := p; i < n; i += producers {
				mine = append(mine, i)
			}
			step := max(batch, 1)
			for c := range slices.Chunk(mine, step) {
				if rate > 0 {
					// Paced: job i is due at start + i/rate.
					if d := time.Until(start.Add(time.Duration(float64(c[0]) / rate * float64(time.Second)))); d > 0 {
						time.Sleep(d)
					}
				}
				if err := enqueue(ctx, len(c), batch > 0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	enqueued := time.Since(start)
	select {
	case err := <-errs:
		return res, err
	default:
	}
	if prefill {
		// The workers drain the backlog alone: the rate and CPU below
		// are the processing's only (the enqueue's were measured above).
		res.cpuProd = perJob(selfCPU()-cpu0, n)
		if err := startWorkers(); err != nil {
			return res, err
		}
		start, rcpu0 = time.Now(), redisCPU(ctx, rdb)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for w > 0 {
		got, err := processed(ctx)
		if err != nil {
			return res, err
		}
		if got >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d jobs processed after 5 minutes", got, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	total := time.Since(start)
	if !prefill {
		res.cpuProd = perJob(selfCPU()-cpu0, n)
	}
	res.cpuRedis = perJob(redisCPU(ctx, rdb)-rcpu0, n)
	closeProducer()
	var workCPU time.Duration
	var lat []time.Duration
	for i, cmd := range procs {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		for outs[i].Scan() {
			var l []int64
			if json.Unmarshal(outs[i].Bytes(), &l) == nil {
				for _, v := range l {
					lat = append(lat, time.Duration(v))
				}
			}
		}
		_ = cmd.Wait()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			workCPU += rusageCPU(ru)
		}
	}
	res.cpuWork = perJob(workCPU, n)
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	res.rate = float64(n) / total.Seconds()
	res.enqRate = float64(n) / enqueued.Seconds()
	res.keysLeft, _ = rdb.DBSize(ctx).Result()
	res.persistent, res.maxTTL = ttls(ctx, rdb)
	return res, nil
}

// producer returns the enqueue function of sys and a reader of its
// processed counter.
func producer(rdb *redis.Client, url, sys string) (enqueue func(context.Context, int, bool) error, processed func(context.Context) (int64, error), closeFn func(), err error) {
	switch sys {
	case "asynq":
		opt, err := asynq.ParseRedisURI(url)
		if err != nil {
			return nil, nil, nil, err
		}
		c := asynq.NewClient(opt)
		enqueue = func(ctx context.Context, k int, _ bool) error {
			for range k {
				b, _ := json.Marshal(payload{T: time.Now().UnixNano()})
				if _, err := c.EnqueueContext(ctx, asynq.NewTask(kind, b), asynq.Queue("default")); err != nil {
					return err
				}
			}
			return nil
		}
		processed = func(ctx context.Context) (int64, error) {
			v, err := rdb.Get(ctx, "asynq:{default}:processed").Int64()
			if errors.Is(err, redis.Nil) {
				return 0, nil
			}
			return v, err
		}
		return enqueue, processed, func() { _ = c.Close() }, nil
	case "tradesense":
		// Its own client: closing the Watermill publisher closes it.
		client, backend, stop, err := tradesense(redis.NewClient(rdb.Options()), "producer", 0)
		if err != nil {
			return nil, nil, nil, err
		}
		enqueue = func(ctx context.Context, k int, many bool) error {
			if !many {
				for range k {
					if _, err := client.Enqueue(ctx, kind, payload{T: time.Now().UnixNano()}); err != nil {
						return err
					}
				}
				return nil
			}
			return enqueueMany(ctx, client, k)
		}
		processed = func(ctx context.Context) (int64, error) {
			c, err := backend.Counts(ctx, jobs.QueueDefault)
			return c.Processed, err
		}
		return enqueue, processed, stop, nil
	}
	return nil, nil, nil, fmt.Errorf("unknown system %q", sys)
}

// tradesense assembles the production job system on rdb; conc > 0 also
// runs a worker with that many handlers on the default queue, recording
// enqueue→start latencies in lat.
func tradesense(rdb *redis.Client, id string, conc int) (*jobs.Client, *redisstore.Jobs, func(), error) {
	log := slog.New(slog.DiscardHandler)
	backend := redisstore.NewJobsOn(rdb, tsPrefix)
	broker, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: tsPrefix + "jobs:stream:", Consumer: id}, backend.Alive, log)
	if err != nil {
		return nil, nil, nil, err
	}
	reg := jobs.NewRegistry()
	reg.Register(kind, jobs.KindConfig{Handler: func(_ context.Context, j *jobs.Job) (any, error) {
		var p payload
		if json.Unmarshal(j.Payload, &p) == nil {
			record(time.Now().UnixNano() - p.T)
		}
		return nil, nil
	}})
	client := jobs.NewClient(jobs.Config{}, reg, backend, broker, nil, log, nil)
	if conc == 0 {
		return client, backend, cleanup, nil
	}
	w, err := jobs.NewWorker(jobs.Config{}, jobs.WorkerConfig{ID: id, Queues: map[string]int{jobs.QueueDefault: conc}}, reg, backend, broker, client, nil, nil, log, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	return client, backend, func() { cancel(); <-done; cleanup() }, nil
}

var (
	latMu sync.Mutex
	lats  []int64
)

func record(ns int64) {
	latMu.Lock()
	lats = append(lats, ns)
	latMu.Unlock()
}

// worker runs one worker process until SIGTERM, then prints the latencies.
func worker(args []string) {
	sys, url, id := args[0], args[1], args[3]
	conc, _ := strconv.Atoi(args[2])
	stopped := make(chan os.Signal, 1)
	signal.Notify(stopped, syscall.SIGTERM)
	// JOBSPEER_CPUPROFILE=dir writes each worker's CPU profile there
	// (go tool pprof -top dir/<system>-<id>.pprof).
	if dir := os.Getenv("JOBSPEER_CPUPROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, sys+"-"+id+".pprof"))
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	// JOBSPEER_ALLOCPROFILE=dir writes each worker's allocation profile
	// there at the end (go tool pprof -sample_index=alloc_space …).
	if dir := os.Getenv("JOBSPEER_ALLOCPROFILE"); dir != "" {
		defer func() {
			f, err := os.Create(filepath.Join(dir, sys+"-"+id+".allocs"))
			if err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				_ = f.Close()
			}
		}()
	}
	switch sys {
	case "asynq":
		opt, err := asynq.ParseRedisURI(url)
		if err != nil {
			log.Fatal(err)
		}
		srv := asynq.NewServer(opt, asynq.Config{
			Concurrency: conc, Queues: map[string]int{"default": 1},
			// asynq polls an empty queue; 5 ms keeps its start latency
			// in the same range (its default is 1 s).
			TaskCheckInterval: 5 * time.Millisecond,
			LogLevel:          asynq.ErrorLevel,
		})
		mux := asynq.NewServeMux()
		mux.HandleFunc(kind, func(_ context.Context, t *asynq.Task) error {
			var p payload
			if json.Unmarshal(t.Payload(), &p) == nil {
				record(time.Now().UnixNano() - p.T)
			}
			return nil
		})
		if err := srv.Start(mux); err != nil {
			log.Fatal(err)
		}
		fmt.Println("ready")
		<-stopped
		srv.Shutdown()
	case "tradesense":
		opts, err := redis.ParseURL(url)
		if err != nil {
			log.Fatal(err)
		}
		opts.PoolSize = 4 * conc
		rdb := redis.NewClient(opts)
		_, _, stop, err := tradesense(rdb, "peer-"+id, conc)
		if err != nil {
			log.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // consumers subscribed
		fmt.Println("ready")
		<-stopped
		stop()
	}
	latMu.Lock()
	b, _ := json.Marshal(lats)
	latMu.Unlock()
	fmt.Println(string(b))
}
