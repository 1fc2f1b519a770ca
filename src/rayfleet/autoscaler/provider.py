"""Ray's node provider for a pool of spare hosts, provisioned with rayfleet's playbooks.

Ray loads it from the autoscaling config the head role writes::

    provider:
      type: external
      module: rayfleet.autoscaler.provider.AnsibleNodeProvider

It runs inside Ray's monitor as ray, like every job, so it holds nothing: it asks the
provisioner (rayfleet.autoscaler.provisioner, a user of its own), through its socket, for
the pool state, launches, terminations and tags.

Node ids are inventory host names. The head and static workers are reported as nodes
that always run (Ray's autoscaler forgets the load of any node its provider does not
list); pool hosts are reported while they are launching or running.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

from ray.autoscaler.node_provider import NodeProvider
from ray.autoscaler.tags import (
    NODE_KIND_HEAD,
    NODE_KIND_WORKER,
    STATUS_SETTING_UP,
    STATUS_UP_TO_DATE,
    TAG_RAY_NODE_KIND,
    TAG_RAY_NODE_NAME,
    TAG_RAY_NODE_STATUS,
    TAG_RAY_USER_NODE_TYPE,
)

from rayfleet.autoscaler.requests import Create, ReadState, Request, SetTags, Terminate, encode
from rayfleet.autoscaler.settings import ProviderSettings
from rayfleet.autoscaler.state import (
    CorruptStateError,
    HostRecord,
    PoolState,
    Status,
    decode,
    members,
)

logger = logging.getLogger(__name__)

# Seconds a request to the provisioner may take: it records a launch and starts a thread.
REQUEST_TIMEOUT_S = 30.0


class ProvisionerError(RuntimeError):
    """The provisioner did not answer, or refused the request."""


class AnsibleNodeProvider(NodeProvider):
    def __init__(self, provider_config: dict[str, Any], cluster_name: str) -> None:
        super().__init__(provider_config, cluster_name)
        self.settings = ProviderSettings.from_provider_config(provider_config, cluster_name)
        self._fixed = {node.name: node for node in self.settings.fixed}
        self._pool = {host.name: host for host in self.settings.pool}
        self._last_state: PoolState = {}

    # --- What Ray reads (v2 calls these from several threads at once) -------------

    def non_terminated_nodes(self, tag_filters: dict[str, str]) -> list[str]:
        state = self._state()
        pool_nodes = [node for node, host in members(state).items() if host in self._pool]
        return [
            node
            for node in [*self._fixed, *pool_nodes]
            if all(self._tags(node, state).get(key) == value for key, value in tag_filters.items())
        ]

    def is_running(self, node_id: str) -> bool:
        if node_id in self._fixed:
            return True
        record = self._record(node_id, self._state())
        return record is not None and record.status is Status.RUNNING

    def is_terminated(self, node_id: str) -> bool:
        return node_id not in self._fixed and self._record(node_id, self._state()) is None

    def node_tags(self, node_id: str) -> dict[str, str]:
        return self._tags(node_id, self._state())

    def internal_ip(self, node_id: str) -> str:
        fixed = self._fixed.get(node_id)
        if fixed is not None:
            return fixed.ip
        return self._pool[self._host(node_id, self._state())].ip

    def external_ip(self, node_id: str) -> str:
        return self.internal_ip(node_id)

    # --- What Ray asks for: the provisioner does it ----------------------------------

    def create_node(
        self, node_config: dict[str, Any], tags: dict[str, str], count: int
    ) -> dict[str, Any]:
        node_type = tags.get(TAG_RAY_USER_NODE_TYPE, "")
        try:
            answer = self._ask(Create(node_type, count, tags))
        except ProvisionerError as error:
            # The autoscaler asks again in its next round.
            logger.warning("rayfleet: no node of type %r launched: %s", node_type, error)
            return {}
        state = self._state()
        return {node: self._tags(node, state) for node in answer["nodes"]}

    def set_node_tags(self, node_id: str, tags: dict[str, str]) -> None:
        if node_id in self._fixed:
            return
        self._ask(SetTags(node_id, tags))

    def terminate_node(self, node_id: str) -> None:
        if node_id in self._fixed:
            logger.warning("rayfleet: %s is not a pool host; it is not terminated", node_id)
            return
        self._ask(Terminate(node_id))

    # --- Internals -------------------------------------------------------------------

    def _state(self) -> PoolState:
        """The pool state, from the provisioner; while it does not answer, the last one read.

        Ray's autoscaler gives up (and takes the head down) after a few rounds that raise:
        a provisioner restart must not do that.
        """
        try:
            self._last_state = decode(self._ask(ReadState())["state"])
        except (ProvisionerError, CorruptStateError) as error:
            logger.warning("rayfleet: pool state as last read: %s", error)
        return self._last_state

    def _ask(self, request: Request) -> dict[str, Any]:
        """The provisioner's answer; ProvisionerError when there is none, or a refusal."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(REQUEST_TIMEOUT_S)
                connection.connect(str(self.settings.socket))
                connection.sendall(encode(request))
                with connection.makefile("rb") as replies:
                    line = replies.readline()
        except OSError as error:
            raise ProvisionerError(f"{self.settings.socket}: {error}") from error
        try:
            answer: dict[str, Any] = json.loads(line)
        except ValueError as error:
            raise ProvisionerError(f"no answer from {self.settings.socket}") from error
        if "error" in answer:
            raise ProvisionerError(f"refused: {answer['error']}")
        return answer

    @staticmethod
    def _record(node_id: str, state: PoolState) -> HostRecord | None:
        host = members(state).get(node_id)
        return state[host] if host is not None else None

    @staticmethod
    def _host(node_id: str, state: PoolState) -> str:
        host = members(state).get(node_id)
        if host is None:
            raise KeyError(f"rayfleet: no pool host is node {node_id}")
        return host

    def _tags(self, node_id: str, state: PoolState) -> dict[str, str]:
        fixed = self._fixed.get(node_id)
        if fixed is not None:
            return {
                TAG_RAY_NODE_KIND: NODE_KIND_HEAD if fixed.is_head else NODE_KIND_WORKER,
                TAG_RAY_USER_NODE_TYPE: fixed.node_type,
                TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE,
                TAG_RAY_NODE_NAME: node_id,
            }
        host = members(state).get(node_id)
        if host is None:
            return {}
        record = state[host]
        running = record.status is Status.RUNNING
        return {
            **record.tags,
            TAG_RAY_NODE_KIND: NODE_KIND_WORKER,
            TAG_RAY_USER_NODE_TYPE: self._pool[host].node_type,
            TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE if running else STATUS_SETTING_UP,
            TAG_RAY_NODE_NAME: host,
        }
