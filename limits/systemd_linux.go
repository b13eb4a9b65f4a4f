package limits

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// userBusAddress is the user manager's bus: the session's address when
// set, else the well-known socket systemd creates for every user manager.
func userBusAddress() (string, bool) {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return a, true
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = "/run/user/" + strconv.Itoa(os.Getuid())
	}
	p := dir + "/bus"
	if _, err := os.Stat(p); err != nil {
		return "", false
	}
	return "unix:path=" + p, true
}

func connectUserBus(ctx context.Context, addr string) (*sd.Conn, error) {
	return sd.NewConnection(func() (*dbus.Conn, error) {
		conn, err := dbus.Dial(addr, dbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			conn.Close()
			return nil, err
		}
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	})
}

// systemdScope asks the user's systemd manager for a transient scope with
// Delegate=yes holding this process and with, then uses it as the parent
// of runs.
// It costs one D-Bus round trip per jail process; a long-lived process
// (a judge service) pays it once for all its runs. The user manager moves
// us even from a login session's scope by asking the system manager.
func systemdScope(ctx context.Context, with []int) (*cgroup2, error) {
	addr, ok := userBusAddress()
	if !ok {
		return nil, fmt.Errorf("no user bus (DBUS_SESSION_BUS_ADDRESS unset and no /run/user/%d/bus): log in through systemd-logind or enable lingering with loginctl enable-linger", os.Getuid())
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := connectUserBus(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to the systemd user manager at %s: %w", addr, err)
	}
	defer conn.Close()
	name := fmt.Sprintf("jail-%d-%d.scope", os.Getpid(), time.Now().UnixNano()%1e9)
	pids := []uint32{uint32(os.Getpid())}
	for _, p := range with {
		pids = append(pids, uint32(p))
	}
	props := []sd.Property{
		sd.PropDescription("jail sandbox runs"),
		sd.PropPids(pids...),
		{Name: "Delegate", Value: dbus.MakeVariant(true)},
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
	}
	done := make(chan string, 1)
	if _, err := conn.StartTransientUnitContext(ctx, name, "fail", props, done); err != nil {
		return nil, fmt.Errorf("asking systemd for a delegated scope: %w", err)
	}
	select {
	case result := <-done:
		if result != "done" {
			return nil, fmt.Errorf("systemd could not start the delegated scope %s: job %s", name, result)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("systemd did not start the delegated scope %s in time: %w", name, ctx.Err())
	}
	scope, err := ownCgroup2()
	if err != nil {
		return nil, err
	}
	return prepareParent("cgroup2-systemd", scope, delegateFix, with)
}
