package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// scriptChecker is keepalived's MISC_CHECK: SCRIPT RIP RPORT runs with the check's timeout; exit
// status 0 means up. XDPVS_VIP, XDPVS_VPORT and XDPVS_PROTOCOL are in its environment. On timeout
// its whole process group is killed.
type scriptChecker struct {
	path string
	svc  model.ServiceKey
}

// maxScriptOutput is how much of a script's output is kept for the log.
const maxScriptOutput = 256

type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxScriptOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *scriptChecker) Check(ctx context.Context, target netip.AddrPort) error {
	cmd := exec.CommandContext(ctx, c.path, target.Addr().String(), strconv.Itoa(int(target.Port())))
	cmd.Env = append(os.Environ(),
		"XDPVS_VIP="+c.svc.Address.String(),
		"XDPVS_VPORT="+strconv.Itoa(int(c.svc.Port)),
		"XDPVS_PROTOCOL="+c.svc.Protocol.String())
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	setProcessGroup(cmd)
	cmd.WaitDelay = time.Second // a child left holding the output open
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("script timed out")
	}
	msg := strings.TrimSpace(out.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if msg != "" {
			return fmt.Errorf("exit status %d: %s", ee.ExitCode(), msg)
		}
		return fmt.Errorf("exit status %d", ee.ExitCode())
	}
	return err
}

func (c *scriptChecker) String() string { return "script " + c.path }
