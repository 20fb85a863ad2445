//! Account credits: a prepaid balance that billed calls spend.
//!
//! Money is kept in integer nano-dollars so that sums are exact and a balance can be proven
//! never to go negative: a call reserves its worst-case cost (input tokens plus `max_tokens`
//! of output) at admission, is refused with "insufficient credits" when the unreserved
//! balance cannot cover that, and is charged its actual cost when the provider finishes it.
//! Running out of credits is a distinct failure from a rate limit: waiting does not help,
//! only a top-up does (scheduled, or an auto-recharge that lands after a delay).

use crate::time::Nanos;

/// Nano-dollars (1e-9 USD).
pub type NanoUsd = u64;

pub fn usd_to_nano(usd: f64) -> NanoUsd {
    (usd * 1e9).round().max(0.0) as NanoUsd
}

pub fn nano_to_usd(nano: NanoUsd) -> f64 {
    nano as f64 / 1e9
}

#[derive(Debug, Clone, Copy)]
pub struct AutoRecharge {
    pub below_nusd: NanoUsd,
    pub amount_nusd: NanoUsd,
    pub delay_ns: Nanos,
}

#[derive(Debug, Clone)]
pub struct CreditsModel {
    pub initial_nusd: NanoUsd,
    /// (at, amount), sorted by time.
    pub top_ups: Vec<(Nanos, NanoUsd)>,
    pub auto_recharge: Option<AutoRecharge>,
}

#[derive(Debug, Clone)]
pub struct CreditAccount {
    balance_nusd: NanoUsd,
    reserved_nusd: NanoUsd,
    pub recharge_pending: bool,
    auto_recharge: Option<AutoRecharge>,
}

impl CreditAccount {
    pub fn new(model: &CreditsModel) -> Self {
        CreditAccount {
            balance_nusd: model.initial_nusd,
            reserved_nusd: 0,
            recharge_pending: false,
            auto_recharge: model.auto_recharge,
        }
    }

    pub fn balance_nusd(&self) -> NanoUsd {
        self.balance_nusd
    }

    /// Reserves `amount` if the unreserved balance covers it.
    pub fn try_reserve(&mut self, amount: NanoUsd) -> bool {
        if self.balance_nusd - self.reserved_nusd >= amount {
            self.reserved_nusd += amount;
            true
        } else {
            false
        }
    }

    /// Releases a reservation and charges the actual cost (never above the reservation).
    pub fn settle(&mut self, reserved: NanoUsd, actual: NanoUsd) {
        debug_assert!(actual <= reserved);
        self.reserved_nusd -= reserved;
        self.balance_nusd -= actual.min(reserved);
    }

    pub fn deposit(&mut self, amount: NanoUsd) {
        self.balance_nusd += amount;
    }

    /// If the balance fell below the auto-recharge threshold and no recharge is on its way,
    /// starts one and says when it lands and how much it brings.
    pub fn recharge_due(&mut self, now: Nanos) -> Option<(Nanos, NanoUsd)> {
        let auto = self.auto_recharge?;
        if self.recharge_pending || self.balance_nusd >= auto.below_nusd {
            return None;
        }
        self.recharge_pending = true;
        Some((now.saturating_add(auto.delay_ns), auto.amount_nusd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_keep_the_balance_non_negative() {
        let model = CreditsModel {
            initial_nusd: 100,
            top_ups: vec![],
            auto_recharge: None,
        };
        let mut account = CreditAccount::new(&model);
        assert!(account.try_reserve(60));
        assert!(!account.try_reserve(60), "only 40 unreserved");
        assert!(account.try_reserve(40));
        account.settle(60, 55);
        account.settle(40, 40);
        assert_eq!(account.balance_nusd(), 5);
        assert!(!account.try_reserve(6));
    }

    #[test]
    fn auto_recharge_fires_once_until_it_lands() {
        let auto = AutoRecharge {
            below_nusd: 50,
            amount_nusd: 500,
            delay_ns: 10,
        };
        let model = CreditsModel {
            initial_nusd: 100,
            top_ups: vec![],
            auto_recharge: Some(auto),
        };
        let mut account = CreditAccount::new(&model);
        assert_eq!(account.recharge_due(0), None);
        account.try_reserve(60);
        account.settle(60, 60);
        assert_eq!(account.recharge_due(5), Some((15, 500)));
        assert_eq!(account.recharge_due(6), None);
    }
}
