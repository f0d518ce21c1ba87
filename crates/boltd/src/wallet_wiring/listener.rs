//! The wallet on the chain poller, with its coin movements: after each block is applied,
//! a `deposit` for every output paying us and a `withdrawal` for every coin of ours it
//! spends (account `wallet`); the process's `balance_snapshot` on the first block once
//! polling runs.

use std::sync::Arc;

use bitcoin::Block;
use chain::{BlockRef, ChainListener};
use wallet::Wallet;

use crate::coin_moves::{wallet_move, CoinMoves};

pub struct WalletListener {
    pub wallet: Arc<Wallet>,
    pub moves: Arc<CoinMoves>,
}

impl ChainListener for WalletListener {
    fn block_connected(&self, block: &Block, height: u32) {
        self.wallet.block_connected(block, height);
        for m in self.wallet.block_moves(block) {
            for (op, value, txid) in m.spends {
                self.moves.chain_move(wallet_move(
                    "withdrawal",
                    op,
                    value.to_sat() * 1000,
                    Some(txid),
                    height,
                ));
            }
            for (op, value) in m.deposits {
                self.moves.chain_move(wallet_move(
                    "deposit",
                    op,
                    value.to_sat() * 1000,
                    None,
                    height,
                ));
            }
        }
        if self.moves.snapshot_due() {
            let balance = self.wallet.confirmed_balance().to_sat() * 1000;
            let mut rows = vec![("wallet".to_string(), balance)];
            rows.extend(self.moves.channel_accounts());
            self.moves.balance_snapshot(height, &rows);
        }
    }

    fn blocks_disconnected(&self, fork_point: BlockRef) {
        self.wallet.blocks_disconnected(fork_point);
    }
}
