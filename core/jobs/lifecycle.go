package jobs

import (
	"context"
	"errors"
	"sync"
)

// RunBeside runs serve (an HTTP server) and, when w is not nil, the worker
// beside it, and shuts them down in the order that loses no job: when ctx
// ends serve is told to stop first, and the worker keeps running while
// serve stops accepting and drains its requests, which may still enqueue
// jobs; once serve returned, the worker is told to stop and drains its
// running jobs for up to its ShutdownTimeout. RunBeside returns when both
// have; stores are closed after that, by the caller. If the worker fails
// to start, serve is stopped. The first errors of both are returned.
func RunBeside(ctx context.Context, serve func(context.Context) error, w *Worker) error {
	if w == nil {
		return serve(ctx)
	}
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorker()
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		werr = w.Run(workerCtx)
		if werr != nil {
			stopServe()
		}
	})
	err := serve(serveCtx)
	stopWorker()
	wg.Wait()
	return errors.Join(err, werr)
}

// RunUnder runs the worker w with serve, a server that carries only the
// worker's own probes and metrics, and stops them in the order that keeps
// the probes truthful: when ctx ends, draining is called at once (the
// server's readiness turns 503) and the server keeps answering while the
// worker drains its running jobs; once the worker returned, serve is told
// to stop. If serve fails (its port is taken), the worker is stopped. The
// first errors of both are returned.
func RunUnder(ctx context.Context, serve func(context.Context) error, draining func(), w *Worker) error {
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServe()
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	served := make(chan error, 1)
	go func() {
		err := serve(serveCtx)
		stopWorker()
		served <- err
	}()
	stopWatch := context.AfterFunc(ctx, draining)
	defer stopWatch()
	werr := w.Run(workerCtx)
	stopServe()
	return errors.Join(<-served, werr)
}
