"""`setchannel` (reference §3.5): the result lists each channel set, the new fees show in
`listpeerchannels`, and the change is durable when the call answers (a kill -9 right
after it keeps it), as in Core Lightning."""

import signal

from boltd_pair import pair
from ldk_node import ldk_chain  # noqa: F401 -- fixture


def test_setchannel_answers_once_the_change_is_durable(node_factory, ldk_chain):
    a, b = pair(node_factory, ldk_chain)
    b_id = b.info["id"]
    [chan] = a.rpc.listpeerchannels(b_id)["channels"]
    r = a.rpc.setchannel(b_id, feebase=1234, feeppm=567)
    [c] = r["channels"]
    assert (c["peer_id"], c["channel_id"], c["short_channel_id"]) == (
        b_id, chan["channel_id"], chan["short_channel_id"])
    assert (c["fee_base_msat"], c["fee_proportional_millionths"]) == (1234, 567)
    assert {"minimum_htlc_out_msat", "maximum_htlc_out_msat", "ignore_fee_limits"} <= set(c)
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(timeout=30)
    a.start()
    [after] = a.rpc.listpeerchannels(b_id)["channels"]
    assert (after["fee_base_msat"], after["fee_proportional_millionths"]) == (1234, 567)
    assert after["updates"]["local"]["fee_base_msat"] == 1234
