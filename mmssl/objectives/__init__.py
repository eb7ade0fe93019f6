"""Self-supervised objectives; each method is one module with a typed config and a method class.

`METHODS` maps a method name to (ConfigClass, MethodClass) so recipes can look them up.
"""

from mmssl.objectives.av_correspondence import AVCorrespondence, AVCorrespondenceConfig
from mmssl.objectives.clusterfit import ClusterFit, ClusterFitConfig
from mmssl.objectives.cross_modal import CrossModal, CrossModalConfig
from mmssl.objectives.frame_order import FrameOrder, FrameOrderConfig
from mmssl.objectives.jigsaw import Jigsaw, JigsawConfig
from mmssl.objectives.moco import MoCo, MoCoConfig
from mmssl.objectives.npid import NPID, NPIDConfig
from mmssl.objectives.pirl import PIRL, PIRLConfig
from mmssl.objectives.rotation import Rotation, RotationConfig
from mmssl.objectives.simclr import SimCLR, SimCLRConfig
from mmssl.objectives.temporal import Temporal, TemporalConfig
from mmssl.objectives.tracking import Tracking, TrackingConfig

METHODS = {
    "pirl": (PIRLConfig, PIRL),
    "npid": (NPIDConfig, NPID),
    "jigsaw": (JigsawConfig, Jigsaw),
    "rotation": (RotationConfig, Rotation),
    "simclr": (SimCLRConfig, SimCLR),
    "moco": (MoCoConfig, MoCo),
    "clusterfit": (ClusterFitConfig, ClusterFit),
    # audio-visual and video methods (batch keys documented on each class)
    "av_correspondence": (AVCorrespondenceConfig, AVCorrespondence),
    "cross_modal": (CrossModalConfig, CrossModal),
    "temporal": (TemporalConfig, Temporal),
    "tracking": (TrackingConfig, Tracking),
    "frame_order": (FrameOrderConfig, FrameOrder),
}
