"""One read of a bag for its whole conversion: frames go to the encoders while the bag is read.

The small streams and the camera stamps are collected as `read_bag` does; camera messages wait
in a buffer until every stream has moved far enough past a frame's time that no later message
can change which sample feeds it. That holds when each stream's stamps arrive in order, give
or take WINDOW_S: a stamp further back, or a stream that stalls while camera messages pile
up (more than STALL_S of them, or BUFFER_LIMIT_BYTES), raises StreamingNotPossible, and the
conversion starts over in two passes, which take any order. When an episode's span closes,
the alignment of the whole span is computed as the two-pass conversion computes it, and must
agree with every frame already sent; the episode's columns, task and report come from it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from lerobot_recorder.align import Alignment, AlignPolicy, StreamTimes, grid_times, select
from lerobot_recorder.bag import Bag, Message
from lerobot_recorder.camera_feed import CameraFeeds
from lerobot_recorder.content import BagContent, Column, ContentCollector
from lerobot_recorder.episodes import Segmentation, Span, default_segmentation
from lerobot_recorder.errors import RecorderError
from lerobot_recorder.planning import (
    align_span,
    episode_columns,
    event_spans,
    frame_picks,
    latency_ns,
    policies_for,
    task_for,
)
from lerobot_recorder.spec import DatasetSpec

WINDOW_S = 0.5
STALL_S = 5.0  # the buffer normally spans WINDOW_S and a few frames
BUFFER_LIMIT_BYTES = 2**30
DECIDE_EVERY = 8  # frames decided together: each decision costs a few numpy calls per stream


class StreamingNotPossible(Exception):  # noqa: N818 - a signal to convert in two passes, not a failure
    """This bag cannot be converted in one read; two passes can."""


class LiveStream:
    """One stream's stamps so far, sorted, each with its message index."""

    def __init__(self, name: str, policy: AlignPolicy, *, offset_ns: int, header: bool, fps: int) -> None:
        self.name, self.policy, self.offset_ns, self.header = name, policy, offset_ns, header
        self.period_ns = round(1e9 / fps)
        self.window_ns = round(WINDOW_S * 1e9)
        self.margin_ns = policy.reach_ns(self.period_ns) if policy.policy == "nearest" else 0
        self.lookback_ns = policy.reach_ns(self.period_ns)
        self.stamps = Column(np.int64)  # sorted
        self.order = Column(np.int64)  # message index of each sorted stamp
        self.newest: int | None = None

    def add(self, header_ns: int, receive_ns: int) -> int:
        """One message's stamps (header 0: none); returns the stamp it is aligned by."""
        stamp = int(header_ns if self.header and header_ns else receive_ns) - self.offset_ns
        if self.newest is not None and stamp < self.newest - self.window_ns:
            raise StreamingNotPossible(
                f"{self.name}: a stamp {(self.newest - stamp) / 1e9:.3f} s behind the newest one (window {WINDOW_S} s)"
            )
        index = len(self.order)
        if self.newest is None or stamp >= self.newest:
            self.stamps.append(stamp)
            self.order.append(index)
            self.newest = stamp
        else:  # after equal stamps: the order a stable sort keeps
            position = int(np.searchsorted(self.stamps.array, stamp, side="right"))
            self.stamps.insert(position, stamp)
            self.order.insert(position, index)
        return stamp

    def settled_ns(self) -> int:
        """Grid times below this are decided for this stream: no later message can change them."""
        if self.newest is None:
            return -(2**62)
        return self.newest - self.window_ns - self.margin_ns

    def first_from(self, low: int) -> int | None:
        stamps = self.stamps.array
        i = int(np.searchsorted(stamps, low, side="left"))
        return int(stamps[i]) if i < len(stamps) else None

    def last_upto(self, high: int) -> int | None:
        stamps = self.stamps.array
        i = int(np.searchsorted(stamps, high, side="right"))
        return int(stamps[i - 1]) if i else None

    def picks(self, grid: np.ndarray) -> np.ndarray:
        """`select` on the stamps from the last one at or before grid[0]: the same choices as on all."""
        low = max(0, int(np.searchsorted(self.stamps.array, grid[0], side="right")) - 1)
        times = StreamTimes(self.name, self.stamps.array[low:], self.order.array[low:])
        return select(times, grid, self.policy, self.period_ns)


@dataclass
class LiveEpisode:
    """One span being streamed; the main thread encodes its frames and waits for its end."""

    span: Span
    frames_hint: int = 0  # for progress: the span's length on the grid, or up to the bag's end
    feeds: CameraFeeds | None = None
    start_ns: int | None = None  # the alignment's first grid time, once decided
    next_k: int = 0  # the next grid index to decide
    sent: dict[str, list[int]] = field(default_factory=dict)  # stream -> message index of each frame sent
    held: tuple[dict[str, int], dict[str, Message]] | None = None  # the newest frame, when the action is the next state
    result: Alignment | None = None
    task: str = ""
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def finish(self) -> tuple[str, dict[str, np.ndarray]]:
        """The task and columns, once the span has closed (blocks until then)."""
        self.done.wait()
        if self.error is not None:
            raise (self.feeds.failure if self.feeds and self.feeds.failure else self.error)
        return self.task, self.columns


@dataclass
class OpenSpan:
    start_ns: int
    end_ns: int | None = None
    task: str | None = None
    state_samples: int = 0
    last_ns: int = -(2**62)  # the newest state stamp in the span (bag and gap segmentations)


class StreamingRead:
    """Reads one bag in a thread and announces its episodes as their first frames are decided."""

    def __init__(
        self,
        path: Path,
        spec: DatasetSpec,
        *,
        segmentation: Segmentation | None,
        gap_s: float,
        task: str | None,
        on_stale: str,
    ) -> None:
        self.path, self.spec, self.segmentation, self.gap_s, self.task = path, spec, segmentation, gap_s, task
        self.on_stale = on_stale
        self.content: BagContent | None = None
        self.thread = threading.Thread(target=self._run, name="bag-reader", daemon=True)
        self.handoff: queue.Queue = queue.Queue()
        self.spans: list[OpenSpan] = []
        self.episode: LiveEpisode | None = None  # the head span's, once announced
        self.episode_of: OpenSpan | None = None  # the span `episode` belongs to
        self.buffer: dict[str, dict[int, tuple[int, Message]]] = {}  # camera -> index -> (stamp, message)
        self.buffered_bytes = 0
        self.streams: dict[str, LiveStream] = {}
        self.last_receive_ns = -(2**62)
        self.last_state_ns = -(2**62)
        self.ended = False
        self.mode: Segmentation = "bag"
        self.bag: Bag | None = None

    # --- the main thread -----------------------------------------------------------------------
    def episodes(self) -> Iterator[LiveEpisode]:
        self.thread.start()
        while True:
            try:
                kind, item = self.handoff.get(timeout=0.1)
            except queue.Empty:
                if not self.thread.is_alive() and self.handoff.empty():
                    raise RecorderError(f"the reader of bag {self.path} stopped unexpectedly") from None
                continue
            if kind == "error":
                raise item
            if kind == "end":
                return
            yield item

    # --- the reading thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            with Bag([self.path]) as bag:
                self.bag = bag
                collector = ContentCollector(bag, self.spec, self.path)
                self.content = collector.content
                topics = collector.topics
                events = self.spec.events_topic
                self.mode = self.segmentation or default_segmentation(bool(events and collector.counts.get(events, 0)))
                if self.mode == "events":
                    self.spans = self._event_spans(bag, collector)
                    topics = [t for t in topics if t != self.spec.events_topic]
                policies = policies_for(self.content, self.spec)
                self.streams = {
                    name: LiveStream(name, policies[name], offset_ns=latency_ns(self.spec, name),
                                     header=self.spec.stamps == "header", fps=self.spec.fps)
                    for name in [*self.content.numeric, *self.content.cameras]
                }  # fmt: skip
                self.buffer = {key: {} for key in self.content.cameras}
                for message in bag.messages(topics, deserialize=False):
                    self._take(collector, message)
                collector.finish()
                self.ended = True
                if self.spans and self.spans[-1].end_ns is None:
                    self._end_span(self.spans[-1])
                while self.spans:
                    self._advance()
            self.handoff.put(("end", None))
        except BaseException as exc:
            if self.episode is not None:
                self.episode.error = exc
                if self.episode.feeds is not None:
                    self.episode.feeds.fail(exc)
                self.episode.done.set()
            self.handoff.put(("error", exc))

    def _event_spans(self, bag: Bag, collector: ContentCollector) -> list[OpenSpan]:
        """Episode events are few: read them first (only the bag's chunks that hold them)."""
        assert self.spec.events_topic is not None  # the events segmentation needs them
        for message in bag.messages([self.spec.events_topic], deserialize=False):
            collector.add(message)
        spans = event_spans(collector.content, self.spec)
        return [OpenSpan(s.start_ns, s.end_ns, s.task) for s in spans]

    def _take(self, collector: ContentCollector, message: Message) -> None:
        key = collector.add(message)
        self.last_receive_ns = message.log_time_ns
        assert self.content is not None
        if key is not None:
            camera = self.content.cameras[key]
            stamp = self.streams[key].add(camera.header_ns[-1], camera.receive_ns[-1])
            self.buffer[key][len(camera.receive_ns) - 1] = (stamp, message)
            self.buffered_bytes += len(message.data)
            waiting_ns = stamp - min(entry[0] for entry in self.buffer[key].values())
            if waiting_ns > STALL_S * 1e9 or self.buffered_bytes > BUFFER_LIMIT_BYTES:
                raise StreamingNotPossible(
                    f"{waiting_ns / 1e9:.1f} s ({self.buffered_bytes >> 20} MB) of {key} messages wait for a stream "
                    "that stalls"
                )
        else:
            stamps = {}
            for feature in collector.by_topic.get(message.topic, ()):
                series = self.content.numeric[feature]
                stamps[feature] = self.streams[feature].add(series.header_ns[-1], series.receive_ns[-1])
            if message.topic == self.spec.state_topic and self.mode != "events":
                self._state_received(message.log_time_ns, stamps["observation.state"])
            elif message.topic == self.spec.task_topic and self.mode == "gap":
                self._task_received()
        self._advance()

    def _task_received(self) -> None:
        """A new task ends the open span: the state messages after it make the next one."""
        assert self.content is not None
        tasks = self.content.tasks
        if len(tasks) > 1 and tasks[-1][1] != tasks[-2][1] and self.spans and self.spans[-1].end_ns is None:
            self._end_span(self.spans[-1])

    def _state_received(self, receive_ns: int, stamp: int) -> None:
        """Spans of the bag or gap segmentations, as the state stream reveals them: cut by
        receive time (a pause), spanning the stamps the state is aligned by."""
        if not self.spans or (self.spans[-1].end_ns is not None):
            self.spans.append(OpenSpan(stamp))
        elif self.mode == "gap" and receive_ns - self.last_state_ns > self.gap_s * 1e9:
            self._end_span(self.spans[-1])
            self.spans.append(OpenSpan(stamp))
        span = self.spans[-1]
        span.start_ns = min(span.start_ns, stamp)  # frames wait until no earlier stamp can come
        span.last_ns = max(span.last_ns, stamp)
        span.state_samples += 1
        self.last_state_ns = receive_ns

    def _end_span(self, span: OpenSpan) -> None:
        """The span ends with its newest state stamp (bag and gap segmentations)."""
        span.end_ns = span.last_ns + 1
        if self.mode == "gap" and span.state_samples < 2:  # as gap segmentation: a lone state sample is no episode
            self.spans.remove(span)

    # --- deciding frames -----------------------------------------------------------------------
    def _advance(self) -> None:
        while self.spans:
            head = self.spans[0]
            if self.episode is None or self.episode_of is not head:
                assert self.bag is not None
                end = head.end_ns or self.bag.end_ns
                hint = max(0, (end - head.start_ns) * self.spec.fps // 10**9)
                self.episode = LiveEpisode(Span(head.start_ns, head.end_ns or 0, head.task), hint)
                self.episode_of = head
                self._evict(head.start_ns)
            if not self._closable(head):
                self._decide(head, self.episode)
                return
            self._close(head, self.episode)
            self.spans.pop(0)
            self.episode = self.episode_of = None

    def _in_span_bound(self, span: OpenSpan) -> int:
        """Stamps up to here are inside the span whatever comes later."""
        return span.end_ns - 1 if span.end_ns is not None else span.last_ns

    def _closable(self, span: OpenSpan) -> bool:
        if span.end_ns is None:
            return False
        if self.ended:
            return True
        settled = min(stream.settled_ns() for stream in self.streams.values())
        return settled > span.end_ns and self.last_receive_ns >= span.end_ns  # tasks before the end are read

    def _decide(self, span: OpenSpan, episode: LiveEpisode) -> None:
        if self.mode == "gap" and span.state_samples < 2:  # may yet be a lone sample, which is no episode
            return
        settled = min(stream.settled_ns() for stream in self.streams.values())
        bound = self._in_span_bound(span)
        start_ns = episode.start_ns if episode.start_ns is not None else self._first_frame(span.start_ns, bound)
        if start_ns is None:
            return
        episode.start_ns = start_ns
        batch = grid_times(start_ns, episode.next_k, episode.next_k + DECIDE_EVERY, self.spec.fps)
        if settled <= batch[-1]:  # not a whole batch decided yet
            return
        lasts = [stream.last_upto(bound) for stream in self.streams.values()]  # none is None past the start
        horizon = min(settled - 1, bound, *cast(list[int], lasts))  # every stream has a stamp at or after each frame
        count = int((horizon - start_ns) * self.spec.fps / 1e9) + 2
        grid = grid_times(start_ns, episode.next_k, count, self.spec.fps)
        grid = grid[grid <= horizon]
        if len(grid) == 0:
            return
        picks = {name: stream.picks(grid) for name, stream in self.streams.items()}
        keep = np.all([p >= 0 for p in picks.values()], axis=0)
        for j in range(len(grid)):
            if keep[j]:
                self._decided(episode, {name: int(p[j]) for name, p in picks.items()})
            elif episode.sent or episode.held:  # a hole after the first frame: a cut, or a trimmed end
                stale = [name for name, p in picks.items() if p[j] < 0]
                raise StreamingNotPossible(f"{stale} stale at {grid[j] / 1e9:.3f} s: the episode ends or is cut there")
        episode.next_k += len(grid)
        self._evict(int(grid[-1]))

    def _first_frame(self, start_ns: int, bound: int) -> int | None:
        """The episode's first grid time, once every stream has a stamp in the span (in its window)."""
        firsts = []
        for stream in self.streams.values():
            first = stream.first_from(start_ns)
            if first is None or stream.newest is None or first > bound or first > stream.newest - stream.window_ns:
                return None
            firsts.append(first)
        return max(firsts)

    def _messages(self, frame: dict[str, int]) -> dict[str, Message]:
        """Each camera's message for a frame, from the buffer."""
        messages = {}
        for key in self.buffer:
            if (entry := self.buffer[key].get(frame[key])) is None:
                raise StreamingNotPossible(f"{key}: message {frame[key]} left the buffer before a frame used it")
            messages[key] = entry[1]
        return messages

    def _decided(self, episode: LiveEpisode, frame: dict[str, int]) -> None:
        messages = self._messages(frame)
        assert self.content is not None
        if "action" not in self.content.numeric:  # the action is the next state: a frame goes once another follows
            previous, episode.held = episode.held, (frame, messages)
            if previous is None:
                return
            frame, messages = previous
        self._send(episode, frame, messages)

    def _send(self, episode: LiveEpisode, frame: dict[str, int], messages: dict[str, Message]) -> None:
        if episode.feeds is None:
            assert self.content is not None
            episode.feeds = CameraFeeds(self.content.cameras, self.thread)
            self.handoff.put(("episode", episode))
        for name, index in frame.items():
            episode.sent.setdefault(name, []).append(index)
        assert self.bag is not None
        for key, message in messages.items():
            if not episode.feeds.put(key, message, self.bag):
                raise RecorderError("the encoders stopped")

    def _evict(self, decided_ns: int) -> None:
        """Drop camera messages that no frame after `decided_ns` can use."""
        for key, entries in self.buffer.items():
            oldest = decided_ns - self.streams[key].lookback_ns
            for index in [i for i, (stamp, _) in entries.items() if stamp < oldest]:
                self.buffered_bytes -= len(entries.pop(index)[1].data)

    def _close(self, span: OpenSpan, episode: LiveEpisode) -> None:
        """The whole span's alignment, as two passes compute it; the frames not sent yet go now."""
        assert self.content is not None and span.end_ns is not None
        whole = Span(span.start_ns, span.end_ns, span.task)
        episode.span = whole
        aligned = align_span(self.content, self.spec, whole, self.on_stale)
        if len(aligned) != 1:
            raise StreamingNotPossible(f"the span ending at {whole.end_ns / 1e9:.3f} s is cut into {len(aligned)}")
        result = aligned[0].result
        picks = frame_picks(self.content, result)
        sent = len(episode.sent.get("observation.state", []))
        if sent > len(picks["observation.state"]) or any(
            list(picks[name][:sent]) != indices for name, indices in episode.sent.items()
        ):
            raise StreamingNotPossible(f"the frames sent before {whole.end_ns / 1e9:.3f} s differ from the span's")
        for j in range(sent, len(picks["observation.state"])):
            frame = {name: int(p[j]) for name, p in picks.items()}
            self._send(episode, frame, self._messages(frame))
        assert episode.feeds is not None  # a span aligns to two frames at least: one was sent
        episode.task = task_for(whole, self.content, self.task)
        episode.columns = episode_columns(self.content, result)
        episode.result = result
        episode.feeds.close()
        episode.done.set()
