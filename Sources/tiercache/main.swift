print("tiercache")
