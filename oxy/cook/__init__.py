"""Pure compute: decode, mips, BC7, payload packing. Never imports gevent, never starts threads."""
