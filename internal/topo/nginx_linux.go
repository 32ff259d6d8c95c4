package topo

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xdpvs/xdpvs/internal/netns"
)

// Nginx is Debian's nginx in a namespace, as a real server: one process (master_process off) in
// the foreground, with its configuration, pid, logs, temporary files and document root in a
// directory of the test's.
type Nginx struct {
	Dir  string
	cmd  *exec.Cmd
	done chan error
}

// NginxProxyProtocol is the configuration of an nginx that takes the PROXY protocol (v1 or v2:
// nginx tells them apart) on port of each of addrs, stores what is PUT under / (WebDAV) and serves
// it back, and logs every request to access.log as
//
//	$proxy_protocol_addr $proxy_protocol_port $remote_addr $request_method $request_uri $status
func NginxProxyProtocol(dir string, port uint16, addrs ...string) string {
	var listen strings.Builder
	for _, a := range addrs {
		if strings.Contains(a, ":") {
			a = "[" + a + "]"
		}
		fmt.Fprintf(&listen, "\t\tlisten %s:%d proxy_protocol;\n", a, port)
	}
	return fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 512; }
http {
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	log_format pp '$proxy_protocol_addr $proxy_protocol_port $remote_addr $request_method $request_uri $status';
	server {
%[2]s		access_log %[1]s/access.log pp;
		root %[1]s/www;
		client_max_body_size 200m;
		location / { dav_methods PUT; create_full_put_path on; }
	}
}
`, dir, listen.String())
}

// StartNginx runs nginx with config (the text of nginx.conf, which must keep every path in dir) in
// ns, and waits until it accepts connections on ready (host:port).
func StartNginx(ns *netns.NS, dir, config, ready string) (*Nginx, error) {
	if _, err := exec.LookPath("nginx"); err != nil {
		return nil, fmt.Errorf("topo: nginx not installed (apt-get install nginx-light): %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		return nil, err
	}
	n := &Nginx{Dir: dir, done: make(chan error, 1)}
	n.cmd = ns.Command("nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { n.done <- n.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-n.done:
			n.done <- err
			return nil, fmt.Errorf("topo: nginx exited: %v\n%s", err, n.Log())
		default:
		}
		if ns.Do(func() error {
			c, err := net.DialTimeout("tcp", ready, 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		}) == nil {
			return n, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.Stop()
	return nil, fmt.Errorf("topo: nginx did not listen on %s\n%s", ready, n.Log())
}

// Stop ends nginx by its PID (SIGQUIT, its graceful stop; SIGKILL after 5 s).
func (n *Nginx) Stop() {
	if n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case err := <-n.done:
		n.done <- err
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		n.done <- <-n.done
	}
}

// AccessLog is the lines of nginx's access log.
func (n *Nginx) AccessLog() []string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "access.log"))
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// Log is nginx's output and error log.
func (n *Nginx) Log() string {
	out, _ := os.ReadFile(filepath.Join(n.Dir, "nginx.out"))
	errs, _ := os.ReadFile(filepath.Join(n.Dir, "error.log"))
	return string(out) + string(errs)
}
