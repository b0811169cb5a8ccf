fn main() {
    plugboard_widget::start();
}
