// Catalogue shared by the shop pages.
window.PRODUCTS = [
  { id: 101, name: "Wireless Earbuds X", price: 39.99, blurb: "Bluetooth 5.3 earbuds with a charging case." },
  { id: 102, name: "Wireless Earbuds Pro", price: 89.0, blurb: "Noise cancelling, six hours of play." },
  { id: 103, name: "Wired Earbuds Basic", price: 9.5, blurb: "A 1.2 m cable and an inline microphone." },
  { id: 201, name: "Over-ear Headphones", price: 129.0, blurb: "Closed back, foldable." },
  { id: 301, name: "USB-C Charger 65W", price: 24.0, blurb: "Two ports, GaN." },
];
