package pktgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// CPSOptions describe a connections-per-second run: Concurrency loops, each opening a TCP
// connection to Target, writing one byte, reading the one-byte answer and the server's close,
// then closing, again and again, until Duration or Max connections.
type CPSOptions struct {
	Target      string // host:port
	Concurrency int    // 0: 16
	Duration    time.Duration
	Max         uint64        // 0: no limit but Duration
	Timeout     time.Duration // per connection (0: 2 s)
	// Dial opens a connection (nil: a net.Dialer). The benchmark dials from inside a namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Progress, if set, is called about once a second.
	Progress func(CPSProgress)
}

// CPSProgress is a cps run at one moment.
type CPSProgress struct {
	Elapsed     time.Duration
	Conns, Errs uint64
	Rate        float64 // connections per second since the previous report
}

// CPSResult is what a cps run did. Latency is per connection: connect, one byte each way, the
// server's close and ours.
type CPSResult struct {
	Conns    uint64
	Errors   uint64
	FirstErr error
	Elapsed  time.Duration
	Latency  Histogram
}

// CPS is connections per second.
func (r CPSResult) CPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Conns) / r.Elapsed.Seconds()
}

// RunCPS runs the loops of o and returns when Duration passed, Max connections were made or ctx
// was cancelled.
func RunCPS(ctx context.Context, o CPSOptions) (CPSResult, error) {
	var res CPSResult
	if o.Target == "" || o.Duration <= 0 {
		return res, errors.New("pktgen: cps needs a target and a duration")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var conns, errs atomic.Uint64
	var mu sync.Mutex
	var firstErr error
	hists := make([]Histogram, o.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2)
			for ctx.Err() == nil {
				if o.Max > 0 && conns.Load() >= o.Max {
					return
				}
				t0 := time.Now()
				err := oneConn(ctx, o, buf)
				if ctx.Err() != nil && err != nil {
					return // cut short by the end of the run: neither counted nor an error
				}
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if o.Max > 0 && conns.Add(1) > o.Max {
					conns.Add(^uint64(0))
					return
				} else if o.Max == 0 {
					conns.Add(1)
				}
				hists[i].Record(uint64(time.Since(t0)))
			}
		}()
	}
	if o.Progress != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			last, lastT := uint64(0), start
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case now := <-tick.C:
					c := conns.Load()
					o.Progress(CPSProgress{Elapsed: now.Sub(start), Conns: c, Errs: errs.Load(),
						Rate: float64(c-last) / now.Sub(lastT).Seconds()})
					last, lastT = c, now
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Conns, res.Errors, res.FirstErr = conns.Load(), errs.Load(), firstErr
	for i := range hists {
		res.Latency.Merge(&hists[i])
	}
	return res, nil
}

func oneConn(ctx context.Context, o CPSOptions, buf []byte) error {
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c, err := o.Dial(cctx, "tcp", o.Target)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(o.Timeout))
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	// One byte back, then the server's close.
	n, err := io.ReadFull(c, buf[:1])
	if n != 1 {
		return fmt.Errorf("read answer: %w", err)
	}
	if n, err := c.Read(buf[1:]); n != 0 || err != io.EOF {
		return fmt.Errorf("want the server's close, got %d bytes, %v", n, err)
	}
	return nil
}

// CPSServer answers the cps client: for every connection it reads one byte, writes one byte and
// closes first (so TIME_WAIT stays on the server side, as behind a load balancer).
type CPSServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	Accepted atomic.Uint64
}

// ServeCPS serves ln until Close.
func ServeCPS(ln net.Listener) *CPSServer {
	s := &CPSServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(time.Millisecond) // EMFILE and the like
				continue
			}
			s.Accepted.Add(1)
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var b [1]byte
				if _, err := io.ReadFull(c, b[:]); err != nil {
					return
				}
				c.Write(b[:])
			}()
		}
	}()
	return s
}

// Close stops accepting and waits for the accept loop.
func (s *CPSServer) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}
