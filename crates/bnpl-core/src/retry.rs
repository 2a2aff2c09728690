//! When to try again, as a pure function of the attempt and the error.

use std::time::Duration;

use rand::Rng;

use crate::error::{ConnectorError, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts after the first for temporary failures.
    pub max_retries: u32,
    /// Attempts after the first for a malformed answer (a cut body can be transient).
    pub max_malformed_retries: u32,
    /// First backoff; doubles each attempt.
    #[serde(with = "millis")]
    pub base_delay: Duration,
    /// Upper bound of one exponential backoff step (Retry-After may exceed it).
    #[serde(with = "millis")]
    pub max_delay: Duration,
    /// Longest Retry-After honoured; a longer one stops the stream for this run.
    #[serde(with = "millis")]
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            max_malformed_retries: 2,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based) after `error`, or `None`
    /// when the error is not retried (or retries are used up).
    /// `unit_jitter` is a number in [0, 1) that spreads retries of many clients.
    pub fn delay(
        &self,
        attempt: u32,
        error: &ConnectorError,
        unit_jitter: f64,
    ) -> Option<Duration> {
        match error.kind() {
            ErrorKind::Retryable if attempt < self.max_retries => {
                let backoff = self.backoff(attempt, unit_jitter);
                match error {
                    ConnectorError::Retryable {
                        retry_after: Some(wait),
                        ..
                    } => (*wait <= self.max_retry_after)
                        .then(|| *wait + self.base_delay.mul_f64(unit_jitter.clamp(0.0, 1.0))),
                    _ => Some(backoff),
                }
            }
            ErrorKind::Malformed if attempt < self.max_malformed_retries => {
                Some(self.backoff(attempt, unit_jitter))
            }
            _ => None,
        }
    }

    /// Capped exponential backoff with "equal jitter": between half and all of the step.
    fn backoff(&self, attempt: u32, unit_jitter: f64) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(2_u32.saturating_pow(attempt.min(20)))
            .min(self.max_delay);
        let half = step / 2;
        half + half.mul_f64(unit_jitter.clamp(0.0, 1.0))
    }

    pub fn delay_with_thread_rng(&self, attempt: u32, error: &ConnectorError) -> Option<Duration> {
        self.delay(attempt, error, rand::rng().random::<f64>())
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn retry_after_is_a_floor() {
        let err = ConnectorError::Retryable {
            message: "429".into(),
            retry_after: Some(Duration::from_secs(7)),
            correlation_id: None,
        };
        for attempt in 0..6 {
            for jitter in [0.0, 0.5, 0.999] {
                let d = policy().delay(attempt, &err, jitter).unwrap();
                assert!(d >= Duration::from_secs(7), "{d:?}");
            }
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let err = ConnectorError::retryable("503");
        let p = policy();
        let d0 = p.delay(0, &err, 0.999).unwrap();
        let d3 = p.delay(3, &err, 0.999).unwrap();
        assert!(d3 > d0 * 4, "{d0:?} {d3:?}");
        let big = RetryPolicy {
            max_retries: 40,
            ..p.clone()
        };
        assert!(big.delay(30, &err, 0.999).unwrap() <= p.max_delay);
        // Jitter keeps at least half of the step.
        assert!(p.delay(2, &err, 0.0).unwrap() >= p.base_delay * 2);
    }

    #[test]
    fn retries_run_out() {
        let err = ConnectorError::retryable("503");
        assert!(policy().delay(6, &err, 0.5).is_none());
        let malformed = ConnectorError::Malformed {
            stream: crate::Stream::Purchases,
            object_id: None,
            message: "cut".into(),
            correlation_id: None,
        };
        assert!(policy().delay(1, &malformed, 0.5).is_some());
        assert!(policy().delay(2, &malformed, 0.5).is_none());
    }

    #[test]
    fn terminal_errors_are_not_retried() {
        for err in [
            ConnectorError::ReauthRequired {
                message: "x".into(),
            },
            ConnectorError::permanent("x"),
            ConnectorError::OutOfScope {
                message: "x".into(),
            },
        ] {
            assert!(policy().delay(0, &err, 0.5).is_none());
        }
    }

    #[test]
    fn an_unreasonable_retry_after_stops_instead_of_sleeping_for_hours() {
        let err = ConnectorError::Retryable {
            message: "429".into(),
            retry_after: Some(Duration::from_secs(86_400)),
            correlation_id: None,
        };
        assert!(policy().delay(0, &err, 0.5).is_none());
    }
}
