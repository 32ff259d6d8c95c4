package topo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Data returns n deterministic pseudorandom bytes for seed, as a reader: both ends of a transfer
// can produce or check them without storing them.
func Data(seed uint64, n int64) io.Reader {
	return io.LimitReader(&prng{r: rand.NewChaCha8([32]byte{0: byte(seed), 1: byte(seed >> 8), 2: byte(seed >> 16)})}, n)
}

type prng struct{ r *rand.ChaCha8 }

func (p *prng) Read(b []byte) (int, error) { return p.r.Read(b) }

// DataSHA256 is the hex SHA-256 of Data(seed, n).
func DataSHA256(seed uint64, n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, Data(seed, n))
	return hex.EncodeToString(h.Sum(nil))
}

// HTTPServer serves, inside a namespace: GET / → its name; GET /whoami → the peer's address:port
// as the server sees it; GET /data?n=N&seed=S → Data(S, N); POST /sha256 → the hex SHA-256 of the
// body. Every answer carries X-Server: name.
type HTTPServer struct {
	srv *http.Server
	ln  net.Listener
}

// ServeHTTP starts an HTTPServer on addr in ns.
func ServeHTTP(ns *netns.NS, addr netip.AddrPort, name string) (*HTTPServer, error) {
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr.String()); return }); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", name)
		io.WriteString(w, name)
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", name)
		io.WriteString(w, r.RemoteAddr)
	})
	mux.HandleFunc("GET /data", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		seed, _ := strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
		w.Header().Set("X-Server", name)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, Data(seed, n))
	})
	mux.HandleFunc("POST /sha256", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Server", name)
		io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
	})
	s := &HTTPServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *HTTPServer) Close() error { return s.srv.Close() }

// UDPEcho answers every datagram with "name:" followed by the datagram.
type UDPEcho struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
}

// ServeUDPEcho starts a UDPEcho on addr in ns.
func ServeUDPEcho(ns *netns.NS, addr netip.AddrPort, name string) (*UDPEcho, error) {
	var c *net.UDPConn
	if err := ns.Do(func() (err error) { c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr)); return }); err != nil {
		return nil, err
	}
	e := &UDPEcho{conn: c}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			out := append([]byte(name+":"), buf[:n]...)
			c.WriteToUDPAddrPort(out, from)
		}
	}()
	return e, nil
}

// Close stops the echo server.
func (e *UDPEcho) Close() error {
	err := e.conn.Close()
	e.wg.Wait()
	return err
}

// DialContext dials from inside ns.
func DialContext(ns *netns.NS) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return
		})
		return c, err
	}
}

// HTTPClient returns a client whose connections start in ns; keepAlive false makes every request
// a new TCP connection.
func HTTPClient(ns *netns.NS, keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{DialContext: DialContext(ns), DisableKeepAlives: !keepAlive,
			MaxIdleConnsPerHost: 4},
	}
}

// Get fetches url with c and returns the body and the X-Server header.
func Get(c *http.Client, url string) (body []byte, server string, err error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, resp.Header.Get("X-Server"), err
}

// URL builds http://addr:port/path for an address that may be IPv6.
func URL(addr string, port uint16, path string) string {
	return "http://" + netip.AddrPortFrom(netip.MustParseAddr(addr), port).String() + path
}
