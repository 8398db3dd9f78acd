"""A stand-in for systemd's Manager on a private D-Bus system bus (python3-dbus, the reference bindings):
RestartUnit(ss) / ReloadUnit(ss) are recorded one line each in RECORD, answered with a job path, and
RestartUnit restarts the stand-in daemon it supervises (NODE listening on SOCKET), as systemd restarts a
unit: the old process goes, a new one answers on the socket. With FAIL present, a call is refused with
systemd's NoSuchUnit error. Usage: fake-systemd.py BUS_ADDRESS RECORD FAIL NODE SOCKET"""
import os, subprocess, sys, time
import dbus, dbus.service, dbus.mainloop.glib
from gi.repository import GLib

address, record, fail, node, sock = sys.argv[1:6]
SERVE = f"require('node:net').createServer((c) => c.end()).listen({sock!r})"
daemon = None

def start_daemon():
    global daemon
    if os.path.exists(sock):
        os.unlink(sock)
    daemon = subprocess.Popen([node, "-e", SERVE])
    with open(record + ".pid", "w") as f:
        f.write(str(daemon.pid))
    for _ in range(200):
        if os.path.exists(sock):
            return
        time.sleep(0.02)

class Manager(dbus.service.Object):
    def _call(self, verb, unit, mode):
        with open(record, "a") as f:
            f.write(f"{verb} {unit} {mode}\n")
        if os.path.exists(fail):
            raise dbus.exceptions.DBusException(f"Unit {unit} not found.", name="org.freedesktop.systemd1.NoSuchUnit")
        return dbus.ObjectPath("/org/freedesktop/systemd1/job/1")

    @dbus.service.method("org.freedesktop.systemd1.Manager", in_signature="ss", out_signature="o")
    def RestartUnit(self, unit, mode):
        job = self._call("RestartUnit", unit, mode)
        daemon.kill()
        daemon.wait()
        start_daemon()
        return job

    @dbus.service.method("org.freedesktop.systemd1.Manager", in_signature="ss", out_signature="o")
    def ReloadUnit(self, unit, mode):
        return self._call("ReloadUnit", unit, mode)

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
start_daemon()
bus = dbus.bus.BusConnection(address)
name = dbus.service.BusName("org.freedesktop.systemd1", bus)
Manager(bus, "/org/freedesktop/systemd1")
print("ready", daemon.pid, flush=True)
GLib.MainLoop().run()
