pub mod accounts;
pub mod calendar;
pub mod demo;
pub mod providers;
pub mod sandbox;
pub mod sync;
pub mod views;
