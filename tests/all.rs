//! The integration tests, one crate: every topic module shares the helpers in `util/`, compiled
//! once (a crate per topic recompiled them, and the binary linked against each, seven times).

#[macro_use]
mod util;

mod architecture;
mod archive;
mod artefacts;
mod audit;
mod ci;
mod compiled;
mod config;
mod dir;
mod distribution;
mod encodings;
mod escape;
mod forge;
mod gate;
mod git;
mod git_objects;
mod history;
mod html;
mod next_steps;
mod prepush;
mod prereceive;
mod redaction;
mod remote;
mod repos;
mod revoke;
mod rotate;
mod rules;
mod verify;
