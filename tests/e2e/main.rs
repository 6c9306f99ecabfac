//! End-to-end tests: the real daemon against real HTTP servers on loopback,
//! a real store in a temporary folder, and (for publishing) the real broker.

mod broker;
mod cli;
mod cluster;
mod connections;
mod daemon;
mod duplicates;
mod fulltext;
mod helpers;
mod hostile;
mod limits;
mod metrics;
mod migrate;
mod operator;
mod opml;
mod outbound;
mod outputs;
mod pages;
mod publishing;
mod reads;
mod reload;
mod replicas;
mod retention;
mod rules;
mod secrets;
mod store_trouble;
mod web;
