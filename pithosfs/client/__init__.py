"""HTTP client for Pithos+ (and plain Swift), plus the store contract it implements.

Entry points: `PithosClient` (ObjectStore over HTTP), `FakeStore` (in memory),
`ImageClient` (Plankton), `load_config` (flags > env > ~/.kamakirc).
"""

from pithosfs.client.config import CloudConfig, ConfigError, load_config
from pithosfs.client.fake import FakeStore
from pithosfs.client.images import Image, ImageClient
from pithosfs.client.pithos import PithosClient
from pithosfs.client.stats import StatsSnapshot, TransferStats
from pithosfs.client.transfer import DownloadResult, StreamingUpload
from pithosfs.client.transport import RetryPolicy

__all__ = [
    "CloudConfig",
    "ConfigError",
    "DownloadResult",
    "FakeStore",
    "Image",
    "ImageClient",
    "PithosClient",
    "RetryPolicy",
    "StatsSnapshot",
    "StreamingUpload",
    "TransferStats",
    "load_config",
]
