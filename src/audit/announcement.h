#pragma once
// A call's word that its audit record follows shortly (a request being handled).
// The journal's writer, about to sync a batch, waits for announced records (up to
// JournalOptions::group_commit_delay) so that they share the batch's sync instead
// of waiting a whole sync for the next one; it never waits for anyone else. See
// docs/formats/audit-journal.md, Writing.
#include <utility>

namespace coffer::audit {

class Announcement {
 public:
  // What counts outstanding announcements (the journal).
  class Counter {
   public:
    // One announcement (made with `tag`) ends without its record.
    virtual void Withdraw(unsigned tag) = 0;

   protected:
    ~Counter() = default;
  };

  Announcement() = default;  // announces nothing
  Announcement(Counter* counter, unsigned tag) : counter_(counter), tag_(tag) {}
  Announcement(Announcement&& other) noexcept
      : counter_(std::exchange(other.counter_, nullptr)), tag_(other.tag_) {}
  Announcement& operator=(Announcement&& other) noexcept {
    if (this != &other) {
      Withdraw();
      counter_ = std::exchange(other.counter_, nullptr);
      tag_ = other.tag_;
    }
    return *this;
  }
  Announcement(const Announcement&) = delete;
  Announcement& operator=(const Announcement&) = delete;
  ~Announcement() { Withdraw(); }

  // Ends the announcement without a record (dropping it does the same).
  void Withdraw() {
    if (Counter* c = std::exchange(counter_, nullptr)) c->Withdraw(tag_);
  }
  // For the counter, as the record arrives: whether the announcement is its own,
  // and ending it without a call to Withdraw.
  bool Of(const Counter& counter) const { return counter_ == &counter; }
  unsigned tag() const { return tag_; }
  void Release() { counter_ = nullptr; }

 private:
  Counter* counter_ = nullptr;
  unsigned tag_ = 0;  // the counter's: which announcements this one is counted with
};

}  // namespace coffer::audit
