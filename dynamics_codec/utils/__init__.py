"""Small shared helpers: atomic files, hashing."""

from dynamics_codec.utils.files import atomic_write_bytes, atomic_write_text, atomic_output_path, sha256_file, sha256_bytes

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_output_path", "sha256_file", "sha256_bytes"]
