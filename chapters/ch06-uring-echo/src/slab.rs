//! Connections by slot number, with a generation per slot.
//!
//! Chapter 3's slab let a connection's slot be its token. Here a slot is
//! reused as soon as a connection is gone, and a completion names a slot
//! in its user data: the generation, bumped at every reuse, makes sure a
//! completion is delivered only to the connection that submitted it.

use crate::user_data::GENERATION_MASK;

pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<usize>,
    len: usize,
}

struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

impl<T> Slab<T> {
    pub fn new() -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores the value made by `make(slot, generation)` in a free slot.
    pub fn insert_with(&mut self, make: impl FnOnce(usize, u32) -> T) -> usize {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.entries.push(Entry {
                generation: 0,
                value: None,
            });
            self.entries.len() - 1
        });
        let entry = &mut self.entries[slot];
        entry.generation = entry.generation.wrapping_add(1) & GENERATION_MASK;
        entry.value = Some(make(slot, entry.generation));
        self.len += 1;
        slot
    }

    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let value = self.entries.get_mut(slot)?.value.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(value)
    }

    /// The value in `slot`, if it is still the one of `generation`.
    pub fn get_mut(&mut self, slot: usize, generation: u32) -> Option<&mut T> {
        let entry = self.entries.get_mut(slot)?;
        if entry.generation != generation {
            return None;
        }
        entry.value.as_mut()
    }

    pub fn get_mut_any(&mut self, slot: usize) -> Option<&mut T> {
        self.entries.get_mut(slot)?.value.as_mut()
    }

    /// Every occupied slot.
    pub fn slots(&self) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&slot| self.entries[slot].value.is_some())
            .collect()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().filter_map(|entry| entry.value.as_ref())
    }
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn a_reused_slot_has_a_new_generation() {
        let mut slab = Slab::new();
        let mut first_generation = 0;
        let a = slab.insert_with(|_, generation| {
            first_generation = generation;
            "a"
        });
        assert_eq!(slab.get_mut(a, first_generation), Some(&mut "a"));
        slab.remove(a);
        let b = slab.insert_with(|_, _| "b");
        assert_eq!(b, a, "the slot is reused");
        assert_eq!(
            slab.get_mut(a, first_generation),
            None,
            "an old completion finds nothing"
        );
        assert_eq!(slab.len(), 1);
    }
}
