package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// httpChecker is keepalived's HTTP_GET and SSL_GET: a GET of path (with Host, if set) answered
// with the expected status. Redirects are not followed: a 301 is a 301. HTTPS does not verify the
// certificate, as SSL_GET by default; it sends Host as the server name.
type httpChecker struct {
	client *http.Client
	scheme string
	path   string
	host   string
	expect int
}

// maxHTTPCheckBody is how much of an answer's body is read (and discarded) before closing.
const maxHTTPCheckBody = 64 << 10

func newHTTPChecker(h *model.HealthSpec, dial DialFunc) *httpChecker {
	tr := &http.Transport{
		DialContext:       dial,
		DisableKeepAlives: true, // every check opens a connection, as keepalived
		Proxy:             nil,
	}
	if h.Check == model.CheckHTTPS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, ServerName: h.Host} //nolint:gosec // SSL_GET does not verify
	}
	return &httpChecker{
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		scheme: h.Check,
		path:   h.Path,
		host:   h.Host,
		expect: h.Expect,
	}
}

func (c *httpChecker) Check(ctx context.Context, target netip.AddrPort) error {
	u := &url.URL{Scheme: c.scheme, Host: target.String()}
	ref, err := url.Parse(c.path)
	if err != nil {
		return err
	}
	u = u.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if c.host != "" {
		req.Host = c.host
	}
	req.Header.Set("User-Agent", "xdpvs-healthcheck")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHTTPCheckBody))
	resp.Body.Close()
	if resp.StatusCode != c.expect {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, c.expect)
	}
	return nil
}

func (c *httpChecker) String() string {
	return fmt.Sprintf("%s GET %s expect %d", c.scheme, c.path, c.expect)
}
