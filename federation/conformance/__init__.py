"""The conformance kit: `regies conformance URL` checks a node against docs/protocol.md as a peer of it would.

`peer` is the kit's own throwaway node (a key, a discovery document, signed requests built by hand), `checks` the
checks, each naming the section of docs/protocol.md it tests, and `command` the command line's thin wrapper.
"""
