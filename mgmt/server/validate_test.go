package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/xdpvs/xdpvs/mgmt/model"
)

// TestValidation runs command lines against a server holding one TCP service with one real
// server, and checks the exit status and ipvsadm's message.
func TestValidation(t *testing.T) {
	setup := `
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m
-A -t [2001:2::10]:80 -s rr
-A -t 198.18.0.12:80 -s rr -j
-A -t 198.18.0.13:80 -s rr
-a -t 198.18.0.13:80 -r 198.18.1.4:80 -g
`
	for _, tc := range []struct {
		name, args string
		rc         int
		msg        string
	}{
		{"service_exists", "-A -t 198.18.0.10:80", 1, "Service already exists"},
		{"edit_missing_service", "-E -t 198.18.0.11:80", 1, "No such service"},
		{"delete_missing_service", "-D -u 198.18.0.10:80", 1, "No such service"},
		{"dest_exists", "-a -t 198.18.0.10:80 -r 198.18.1.2:80 -m", 1, "Destination already exists"},
		{"dest_exists_other_method", "-a -t 198.18.0.10:80 -r 198.18.1.2 -g", 1, "Destination already exists"},
		{"edit_missing_dest", "-e -t 198.18.0.10:80 -r 198.18.1.9:80 -m", 1, "No such destination"},
		{"delete_missing_dest", "-d -t 198.18.0.10:80 -r 198.18.1.2:81", 1, "No such destination"},
		{"dest_missing_service", "-a -t 198.18.0.11:80 -r 198.18.1.2:80", 1, "Service not defined"},
		{"unknown_scheduler", "-A -t 198.18.0.11:80 -s nosuch", 1, "Scheduler not found"},
		{"edit_unknown_scheduler", "-E -t 198.18.0.10:80 -s nosuch", 1, "Scheduler not found"},
		{"weight_too_big", "-a -t 198.18.0.10:80 -r 198.18.1.3 -w 65536", 2, "illegal weight specified"},
		{"weight_negative", "-a -t 198.18.0.10:80 -r 198.18.1.3 -w -1", 2, "illegal weight specified"},
		{"weight_not_number", "-a -t 198.18.0.10:80 -r 198.18.1.3 -w x", 2, "illegal weight specified"},
		{"u_threshold", "-a -t 198.18.0.10:80 -r 198.18.1.3 -x 2147483648", 2, "illegal u_threshold specified"},
		{"l_threshold", "-a -t 198.18.0.10:80 -r 198.18.1.3 -y z", 2, "illegal l_threshold specified"},
		{"family_mismatch", "-a -t 198.18.0.10:80 -r [2001:2::2]:80 -m", 1, "Different address family is allowed only for fullnat servers (an IPv4 real server under an IPv6 service)"},
		{"family_v4_under_v6_nat", "-a -t [2001:2::10]:80 -r 198.18.1.2:80 -m", 1, "Different address family is allowed only for fullnat servers (an IPv4 real server under an IPv6 service)"},
		{"zero_port", "-A -t 198.18.0.11:0", 2, "Zero port specified for non-persistent service"},
		{"zero_port_no_port", "-A -t 198.18.0.11", 2, "Zero port specified for non-persistent service"},
		{"dr_port_differs", "-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -g", 2, "real server port 8080 differs from the service port 80: gatewaying (-g) forwarding cannot change the port (use -m or -b)"},
		{"dr_default_port_differs", "-a -t 198.18.0.10:80 -r 198.18.1.3:8080", 2, "real server port 8080 differs from the service port 80: gatewaying (-g) forwarding cannot change the port (use -m or -b)"},
		{"tun_port_differs", "-a -t 198.18.0.10:80 -r 198.18.1.3:81 -i", 2, "real server port 81 differs from the service port 80: ipip (-i) forwarding cannot change the port (use -m or -b)"},
		{"ops_tcp", "-A -t 198.18.0.11:80 -o", 2, "One-Packet Scheduling is only for UDP virtual services"},
		{"bad_vip", "-A -t 198.18.0.300:80", 2, "illegal virtual server address[:port] specified"},
		{"hostname_vip", "-A -t example:80", 2, "illegal virtual server address[:port] specified"},
		{"bad_port", "-A -t 198.18.0.10:65536", 2, "illegal virtual server address[:port] specified"},
		{"v6_without_brackets_port", "-A -t [2001:2::10]80", 2, "illegal virtual server address[:port] specified"},
		{"bad_rip", "-a -t 198.18.0.10:80 -r nope", 2, "illegal real server address[:port] specified"},
		{"multicast_rip", "-a -t 198.18.0.10:80 -r 224.0.0.1:80 -m", 1, "real server address 224.0.0.1 is not a unicast address"},
		{"unspecified_vip", "-A -t 0.0.0.0:80", 1, "virtual server address 0.0.0.0 is not a unicast address"},
		{"bad_timeout", "-A -t 198.18.0.11:80 -p 0", 2, "invalid timeout value `0' specified"},
		{"timeout_too_big", "-A -t 198.18.0.11:80 -p 2678401", 2, "invalid timeout value `2678401' specified"},
		{"bad_mask", "-A -t 198.18.0.11:80 -p -M 255.0.255.0", 2, "illegal virtual server persistent mask specified (it must be contiguous, like 255.255.255.0)"},
		{"bad_v6_mask", "-A -t [2001:2::11]:80 -p -M 129", 2, "illegal ipv6 netmask specified"},
		{"set_two_values", "--set 1 2", 2, "--set option requires 3 timeout values"},
		{"set_bad_value", "--set 1 x 3", 2, "invalid timeout value `x' specified"},
		{"no_service", "-A -s rr", 2, "You need to supply the 'service-address' option for the 'add-service' command"},
		{"no_real_server", "-a -t 198.18.0.10:80", 2, "You need to supply the 'real-server' option for the 'add-server' command"},
		{"illegal_option", "-D -t 198.18.0.10:80 -s rr", 2, "Illegal 'scheduler' option with the 'delete-service' command"},
		{"illegal_forward_on_delete", "-d -t 198.18.0.10:80 -r 198.18.1.2 -m", 2, "Illegal 'forwarding-method' option with the 'delete-server' command"},
		{"two_commands", "-A -D -t 198.18.0.10:80", 2, "multiple commands specified"},
		{"two_services", "-A -t 198.18.0.10:80 -u 198.18.0.10:80", 2, "multiple 'service-address' options specified"},
		{"list_conflict", "-L -c --stats", 2, "options conflicts in the list command"},
		{"list_exclusive", "-L -c -t 198.18.0.10:80", 2, "The option 'service-address' conflicts with the 'connection' option in the 'list' command"},
		{"unknown_option", "-L --frobnicate", 2, "--frobnicate: unknown option"},
		{"unknown_short", "-L -K", 2, "-K: unknown option"},
		{"missing_arg", "-A -t", 2, "-t: missing argument"},
		{"unexpected_arg", "-L foo", 2, "unexpected argument foo"},
		{"fwmark_zero", "-A -f 0", 2, "illegal fwmark specified"},
		{"daemon", "--start-daemon master", 2, "--start-daemon: the connection sync daemon is not supported by xdpvs"},
		{"bad_sched_flag", "-A -t 198.18.0.11:80 -s rr -b foo", 2, "invalid scheduler flag `foo'"},
		{"sh_flag_on_rr", "-A -t 198.18.0.11:80 -s rr -b sh-port", 2, "invalid scheduler flag `sh-port'"},
		{"list_missing", "-L -t 198.18.0.99:80", 1, "No such service"},
		{"laddr_missing_service", "--add-laddr -z 198.18.2.1 -t 198.18.0.99:80", 1, "No such service"},
		{"del_missing_laddr", "--del-laddr -z 198.18.2.1 -t 198.18.0.10:80", 1, "No such local address"},
		{"laddr_bad", "--add-laddr -z nope -t 198.18.0.10:80", 2, "illegal local address specified"},
		{"laddr_needs_z", "--add-laddr -t 198.18.0.10:80", 2, "You need to supply the 'laddr' option for the 'add-laddr' command"},
		{"bad_output", "-L --output yaml", 2, "--output: unknown format `yaml' (only json)"},
		{"no_command", "-n", 2, "no command specified\nTry `xdpvsadm -h' or 'xdpvsadm --help' for more information."},
		{"synproxy_dr", "-a -t 198.18.0.12:80 -r 198.18.1.3:80 -g", 1, "the SYN proxy (-j) needs the real servers' replies: use masquerading (-m) or fullnat (-b), not gatewaying (-g)"},
		{"synproxy_tun", "-a -t 198.18.0.12:80 -r 198.18.1.3:80 -i", 1, "the SYN proxy (-j) needs the real servers' replies: use masquerading (-m) or fullnat (-b), not ipip (-i)"},
		{"synproxy_edit_dr", "-E -t 198.18.0.13:80 -s rr -j", 1, "the SYN proxy (-j) needs the real servers' replies: use masquerading (-m) or fullnat (-b), not gatewaying (-g)"},
		{"synproxy_bad", "-A -t 198.18.0.11:80 -j maybe", 2, "invalid synproxy value `maybe' specified (enable or disable)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			ts.mustLines(t, setup)
			before := ts.fake.applied()
			out, errs, rc := ts.adm(t, "", strings.Fields(tc.args)...)
			if rc != tc.rc || errs != tc.msg+"\n" || out != "" {
				t.Errorf("xdpvsadm %s:\n rc %d, stderr %q, stdout %q\nwant rc %d, stderr %q", tc.args, rc, errs, out, tc.rc, tc.msg+"\n")
			}
			if ts.fake.applied() != before {
				t.Errorf("a refused command reached the dataplane")
			}
		})
	}
}

// TestAccepted checks commands that ipvsadm accepts, with the defaults they imply.
func TestAccepted(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.mustLines(t, `
--add-service --tcp-service=198.18.0.10:80 --scheduler rr --persistent --netmask 255.255.0.0
-At 198.18.0.11:0 -p 60
-a -t 198.18.0.10:80 -r 198.18.1.2
--add-server --tcp-service 198.18.0.10:80 --real-server 198.18.1.3:8080 --masquerading --weight 7 --u-threshold 9 --l-threshold 3
-a -t 198.18.0.11:0 -r 198.18.1.4 -i
-Au [2001:2::10]:53 -s wrr -o
-a -u [2001:2::10]:53 -r 198.18.1.5:5353 -b
-a -u [2001:2::10]:53 -r 2001:2::1:5 -g -w 0
-A -t 198.18.0.12:443 -s rr -j enable
--set 0 30 0
-P -z 198.18.2.1 -t 198.18.0.12:443
`)
	want := `--set 900 30 300
-A -t 198.18.0.10:80 -s rr -p 300 -M 255.255.0.0
-a -t 198.18.0.10:80 -r 198.18.1.2:80 -g -w 1
-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -m -w 7 -x 9 -y 3
-A -t 198.18.0.11:0 -s DEFAULT -p 60
-a -t 198.18.0.11:0 -r 198.18.1.4:0 -i -w 1
-A -t 198.18.0.12:443 -s rr -j
--add-laddr -z 198.18.2.1 -t 198.18.0.12:443
-A -u [2001:2::10]:53 -s wrr -o
-a -u [2001:2::10]:53 -r 198.18.1.5:5353 -b -w 1
-a -u [2001:2::10]:53 -r [2001:2::1:5]:53 -g -w 0
`
	want = strings.ReplaceAll(want, "DEFAULT", model.DefaultScheduler()) // ipvsadm's wlc once registered
	if got := ts.mustAdm(t, "-S"); got != want {
		t.Errorf("-S:\n%s\nwant\n%s", got, want)
	}
	// -E replaces the service's attributes as ipvsadm does (persistence off without -p) and
	// keeps its real servers; -e replaces the real server's (weight back to 1 without -w).
	ts.mustAdm(t, "-E", "-t", "198.18.0.10:80", "-s", "wrr", "-p", "-M", "255.255.255.0")
	ts.mustAdm(t, "-e", "-t", "198.18.0.10:80", "-r", "198.18.1.3:8080", "-m")
	ts.mustAdm(t, "-d", "-t", "198.18.0.10:80", "-r", "198.18.1.2")
	ts.mustAdm(t, "--del-laddr", "-z", "198.18.2.1", "-t", "198.18.0.12:443")
	ts.mustAdm(t, "-D", "-t", "198.18.0.11:0")
	want = `--set 900 30 300
-A -t 198.18.0.10:80 -s wrr -p 300 -M 255.255.255.0
-a -t 198.18.0.10:80 -r 198.18.1.3:8080 -m -w 1
-A -t 198.18.0.12:443 -s rr -j
-A -u [2001:2::10]:53 -s wrr -o
-a -u [2001:2::10]:53 -r 198.18.1.5:5353 -b -w 1
-a -u [2001:2::10]:53 -r [2001:2::1:5]:53 -g -w 0
`
	if got := ts.mustAdm(t, "-S"); got != want {
		t.Errorf("-S after edits:\n%s\nwant\n%s", got, want)
	}
	// The dataplane sees the snapshot of the model.
	sn := ts.fake.last()
	if len(sn.Services) != 3 || sn.Timeouts.TCPFin.Seconds() != 30 {
		t.Fatalf("snapshot: %+v", sn)
	}
	ts.mustAdm(t, "-C")
	if got := ts.mustAdm(t, "-S"); got != "--set 900 30 300\n" {
		t.Errorf("-S after -C: %q", got)
	}
	if n := len(ts.fake.last().Services); n != 0 {
		t.Errorf("after -C the dataplane has %d services", n)
	}
}

func TestSnapshotContents(t *testing.T) {
	ts := newGoldenServer(t)
	sn := ts.fake.last()
	if len(sn.Services) != 3 {
		t.Fatalf("%d services", len(sn.Services))
	}
	dns := sn.Services[1]
	if dns.Key != v4dns || dns.Scheduler != "wrr" || dns.Persistence.Seconds() != 300 ||
		dns.Netmask.Bits() != 24 || dns.Flags&0x0005 != 0x0005 {
		t.Errorf("udp service: %+v", dns)
	}
	tls := sn.Services[2]
	if tls.Netmask.Bits() != 64 || tls.Flags&0x8000 != 0 || len(tls.LocalAddrs) != 2 || len(tls.RealServers) != 3 {
		t.Errorf("v6 service: %+v", tls)
	}
	if sn.Services[0].Flags&0x8000 == 0 {
		t.Errorf("v4 web service without its synproxy flag: %+v", sn.Services[0])
	}
	if rs := sn.Services[0].RealServers[0]; rs.Port != 8080 || rs.Weight != 3 || rs.UpperThreshold != 100 || rs.LowerThreshold != 10 {
		t.Errorf("real server: %+v", rs)
	}
}

// TestRollback: when the dataplane refuses a snapshot, the model stays as it was.
func TestRollback(t *testing.T) {
	ts := newGoldenServer(t)
	before := ts.mustAdm(t, "-S")
	n := ts.fake.applied()
	ts.fake.failApply(errors.New("out of LIP ports"))
	_, errs, rc := ts.adm(t, "", "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.9:80", "-m")
	if rc != 1 || errs != "dataplane refused the configuration: out of LIP ports\n" {
		t.Errorf("rc %d stderr %q", rc, errs)
	}
	if after := ts.mustAdm(t, "-S"); after != before {
		t.Errorf("model changed by a refused Apply:\n%s", after)
	}
	if ts.fake.applied() != n {
		t.Errorf("snapshots recorded: %d, want %d", ts.fake.applied(), n)
	}
	// The same command works once the dataplane accepts it.
	ts.mustAdm(t, "-a", "-t", "198.18.0.10:80", "-r", "198.18.1.9:80", "-m")
}
