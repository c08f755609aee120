"""SSH tunnels to server databases: OpenSSH when it is there, paramiko otherwise (see base.py).

Importing this package loads neither paramiko nor a child process; a transport is loaded when
the first profile with ``ssh`` connects.
"""

from dbconsole.tunnel.base import Tunnel, TransportName, choose_transport, open_tunnel
from dbconsole.tunnel.pool import TunnelPool, tunnels

__all__ = ["TransportName", "Tunnel", "TunnelPool", "choose_transport", "open_tunnel", "tunnels"]
