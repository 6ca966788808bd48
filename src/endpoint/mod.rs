//! Docker endpoints: containers, tar streams in and out, log streams. The only user of bollard.
