//! A vector of slots that reuses freed places, so that a connection's slot
//! number can be its token: the kernel hands the token back with each
//! event, and finding the connection is an index, not a search.

// ANCHOR: slots
pub struct Slots<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slots<T> {
    pub fn new() -> Self {
        Slots {
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

    /// Stores `value` in a free slot and returns the slot's number.
    pub fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(slot) => {
                self.entries[slot] = Some(value);
                slot
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let value = self.entries.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(value)
    }
    // ANCHOR_END: slots

    pub fn get(&self, slot: usize) -> Option<&T> {
        self.entries.get(slot)?.as_ref()
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.entries.get_mut(slot)?.as_mut()
    }

    /// Every occupied slot, with its number.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| Some((slot, entry.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;

    #[test]
    fn freed_slots_are_reused() {
        let mut slots = Slots::new();
        let a = slots.insert("a");
        let b = slots.insert("b");
        assert_eq!(slots.remove(a), Some("a"));
        assert_eq!(slots.remove(a), None, "removed twice");
        assert_eq!(slots.len(), 1);
        let c = slots.insert("c");
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(slots.get(b), Some(&"b"));
        let all: Vec<_> = slots.iter().map(|(_, v)| *v).collect();
        assert_eq!(all, ["c", "b"]);
    }
}
