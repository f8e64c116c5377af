"""Data: synthetic scene dynamics (known ground-truth flow); datasets come with the training issue."""

from dynamics_codec.data.synthetic import BUNDLED_IMAGES, SyntheticClip, bundled_image, make_synthetic_clip, smooth_motion_field

__all__ = ["BUNDLED_IMAGES", "SyntheticClip", "bundled_image", "make_synthetic_clip", "smooth_motion_field"]
