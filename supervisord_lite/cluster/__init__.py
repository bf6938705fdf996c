"""Cluster backends: processes placed on the nodes of a cluster engine, behind the owner interface.

Ray is the first (ray_owner.py in the daemon, actor.py on the nodes). Nothing here is imported by
a daemon that runs its processes locally, and Ray itself is imported only when a Ray backend starts.
"""

RAY_EXTRA = "pip install 'supervisord-lite[ray]'"
