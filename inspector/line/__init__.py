"""The station on the line, without a window: triggers, the one-part pipeline, publishers.

    feed = open_feed(ws, "hotfolder:/data/line", station="st1")        # or replay:DIR, camera:N
    pipe = LinePipeline(ws, "cookie", feed, station="st1", retention="ng")
    pipe.add_listener(print)             # one PartResult per part, on the scoring thread
    pipe.run(stop_event)                 # blocks; the GUI runs it on a worker, `serve` on main

One trigger gives one image, one verdict and one record. Publishers (MQTT, OPC UA) take each
PartResult from a queue on their own thread, so they never slow or stop inspection. No Qt here.
"""

from .feeds import Feed, HotFolderFeed, ReplayFeed, SnapFeed, open_feed
from .parts import Part, PartResult
from .pipeline import RETENTIONS, LinePipeline, load_fitted_detector

__all__ = ["Feed", "HotFolderFeed", "LinePipeline", "Part", "PartResult", "RETENTIONS",
           "ReplayFeed", "SnapFeed", "load_fitted_detector", "open_feed"]
