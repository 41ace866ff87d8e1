print("skydns")
